"""The event store, composed: one transaction writes a ``WriteBatch`` (events, chain rows,
time-index rows, idempotency records and snapshots, sealed) under the event table's lock.

- ``names``: every schema and table the ledger and its read models use;
- ``batch``: the typed write batch and what the insert reports back;
- ``time_index``, ``idempotency``, ``chain_rows``, ``snapshots``: one small module per table beside
  the events;
- ``library``: the one place that reaches below the eventsourcing library's public surface;
- ``postgres`` and ``memory``: the store itself, on PostgreSQL and in memory for unit tests.
"""
