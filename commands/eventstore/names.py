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
# What leaves the ledger: webhook subscriptions, their deliveries and attempts; emails sent, the
# customers who opted out of them, and the key of the customer tracking links.
WEBHOOK_SUBSCRIPTIONS = "webhook_subscriptions"
WEBHOOK_DELIVERIES = "webhook_deliveries"
WEBHOOK_BODIES = "webhook_bodies"
WEBHOOK_ATTEMPTS = "webhook_attempts"
NOTIFICATIONS_SENT = "notifications_sent"
NOTIFICATION_OPT_OUTS = "notification_opt_outs"
TRACKING_KEY = "tracking_key"

# The eventsourcing library names its tables after the application and its notification channel
# after the events table.
APPLICATION_NAME = "Ledger"
CHANNEL = EVENTS


def ledger_table(name: str) -> sql.Identifier:
    return sql.Identifier(LEDGER_SCHEMA, name)


def read_table(name: str) -> sql.Identifier:
    return sql.Identifier(READ_SCHEMA, name)
