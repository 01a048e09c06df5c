"""Every schema and table of the ledger and its read models, named once."""

from __future__ import annotations

from psycopg import sql

LEDGER_SCHEMA = "ledger"
READ_SCHEMA = "read"

EVENTS = "ledger_events"
SNAPSHOTS = "ledger_snapshots"
EVENT_HASHES = "event_hashes"
EVENT_TIMES = "event_times"
IDEMPOTENCY_KEYS = "idempotency_keys"
CUSTOMER_KEYS = "customer_keys"
CUSTOMER_ERASURES = "customer_erasures"
EMAIL_INDEX_KEY = "email_index_key"
API_KEYS = "api_keys"
SCHEMA_MIGRATIONS = "schema_migrations"
CHECKPOINTS = "checkpoints"

# The eventsourcing library names its tables after the application and its notification channel
# after the events table.
APPLICATION_NAME = "Ledger"
CHANNEL = EVENTS


def ledger_table(name: str) -> sql.Identifier:
    return sql.Identifier(LEDGER_SCHEMA, name)


def read_table(name: str) -> sql.Identifier:
    return sql.Identifier(READ_SCHEMA, name)
