"""The ledger's domain model: aggregates, value objects and named rule errors.

Imports only the standard library and ``eventsourcing.domain``.
"""
