"""Webhook subscriptions, their deliveries and each delivery's attempts, in the ledger schema.

A subscription's ``position`` is how far the dispatcher has looked: every matching event up to
it has a delivery row, made in the same transaction that moved the position. An event's body
is stored once (``webhook_bodies``), however many subscriptions it goes to. A delivery is
``pending`` (to send, or to retry at ``next_attempt_at``), ``delivered`` or ``dead`` (its
attempts ran out). Its last attempt (time, status, latency, error) is on its row, and every
failed attempt is logged in ``webhook_attempts``: a delivery that went at once costs one row.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from psycopg import Connection, sql
from psycopg.rows import class_row

from commands.eventstore.names import (
    EVENTS,
    WEBHOOK_ATTEMPTS,
    WEBHOOK_BODIES,
    WEBHOOK_DELIVERIES,
    WEBHOOK_SUBSCRIPTIONS,
    ledger_table,
)

SUBSCRIPTIONS = ledger_table(WEBHOOK_SUBSCRIPTIONS)
DELIVERIES = ledger_table(WEBHOOK_DELIVERIES)
BODIES = ledger_table(WEBHOOK_BODIES)
ATTEMPTS = ledger_table(WEBHOOK_ATTEMPTS)

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"

DDL = [
    sql.SQL(
        "CREATE TABLE IF NOT EXISTS {} (id text PRIMARY KEY, url text NOT NULL, event_types text[],"
        " channel text, location_id text, description text NOT NULL DEFAULT '',"
        " secret text NOT NULL, previous_secret text, previous_until timestamptz,"
        " paused boolean NOT NULL DEFAULT false, max_attempts integer NOT NULL,"
        " position bigint NOT NULL, created_by text NOT NULL,"
        " created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now())"
    ).format(SUBSCRIPTIONS),
    sql.SQL(
        "CREATE TABLE IF NOT EXISTS {} (position bigint PRIMARY KEY, stream_id uuid NOT NULL,"
        " event_type text NOT NULL, body bytea NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"
    ).format(BODIES),
    sql.SQL(
        "CREATE TABLE IF NOT EXISTS {} (subscription_id text NOT NULL REFERENCES {} (id) ON DELETE CASCADE,"
        " position bigint NOT NULL REFERENCES {} (position), stream_id uuid NOT NULL,"
        " state text NOT NULL DEFAULT 'pending', attempts integer NOT NULL DEFAULT 0,"
        " next_attempt_at timestamptz NOT NULL DEFAULT now(), created_at timestamptz NOT NULL DEFAULT now(),"
        " delivered_at timestamptz, last_attempt_at timestamptz, last_status integer,"
        " last_latency_ms double precision, last_error text, PRIMARY KEY (subscription_id, position))"
    ).format(DELIVERIES, SUBSCRIPTIONS, BODIES),
    # Bodies no delivery needs any more are found through this, and deleted.
    sql.SQL("CREATE INDEX IF NOT EXISTS webhook_deliveries_position ON {} (position)").format(DELIVERIES),
    # What is left to send, in ledger order, and each stream's head, found without reading
    # what was delivered.
    sql.SQL(
        "CREATE INDEX IF NOT EXISTS webhook_deliveries_pending ON {} (subscription_id, position)"
        " WHERE state = 'pending'"
    ).format(DELIVERIES),
    sql.SQL(
        "CREATE INDEX IF NOT EXISTS webhook_deliveries_stream_heads ON {} (subscription_id, stream_id, position)"
        " WHERE state = 'pending'"
    ).format(DELIVERIES),
    sql.SQL(
        "CREATE INDEX IF NOT EXISTS webhook_deliveries_dead ON {} (subscription_id, position) WHERE state = 'dead'"
    ).format(DELIVERIES),
    sql.SQL(
        "CREATE TABLE IF NOT EXISTS {} (id bigserial PRIMARY KEY, subscription_id text NOT NULL,"
        " position bigint NOT NULL, attempt integer NOT NULL, attempted_at timestamptz NOT NULL, status integer,"
        " latency_ms double precision NOT NULL, error text,"
        " FOREIGN KEY (subscription_id, position) REFERENCES {} (subscription_id, position) ON DELETE CASCADE)"
    ).format(ATTEMPTS, DELIVERIES),
    sql.SQL("CREATE INDEX IF NOT EXISTS webhook_attempts_delivery ON {} (subscription_id, position, id)").format(
        ATTEMPTS
    ),
]


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def new_id() -> str:
    return "wh_" + secrets.token_hex(8)


@dataclass(frozen=True, slots=True)
class Subscription:
    id: str
    url: str
    event_types: list[str] | None
    channel: str | None
    location_id: str | None
    description: str
    secret: str
    previous_secret: str | None
    previous_until: datetime | None
    paused: bool
    max_attempts: int
    position: int
    created_by: str
    created_at: datetime
    updated_at: datetime

    def secrets_at(self, now: datetime) -> list[str]:
        """The secrets a delivery is signed with: the current one, and the one it replaced
        while the rotation's grace period lasts (Standard Webhooks sends both signatures)."""
        if self.previous_secret and self.previous_until is not None and now < self.previous_until:
            return [self.secret, self.previous_secret]
        return [self.secret]


COLUMNS = sql.SQL(
    "id, url, event_types, channel, location_id, description, secret, previous_secret, previous_until, paused,"
    " max_attempts, position, created_by, created_at, updated_at"
)


ACTIVE = sql.SQL("SELECT {} FROM {} WHERE NOT paused ORDER BY created_at, id").format(COLUMNS, SUBSCRIPTIONS)


def subscriptions(conn: Connection[Any]) -> list[Subscription]:
    with conn.cursor(row_factory=class_row(Subscription)) as cur:
        return cur.execute(
            sql.SQL("SELECT {} FROM {} ORDER BY created_at, id").format(COLUMNS, SUBSCRIPTIONS)
        ).fetchall()


def subscription(conn: Connection[Any], subscription_id: str) -> Subscription | None:
    with conn.cursor(row_factory=class_row(Subscription)) as cur:
        return cur.execute(
            sql.SQL("SELECT {} FROM {} WHERE id = %s").format(COLUMNS, SUBSCRIPTIONS), (subscription_id,)
        ).fetchone()


_GAUGES = sql.SQL(
    "SELECT s.id, s.position, greatest((SELECT coalesce(max(notification_id), 0) FROM {events}) - s.position, 0),"
    " (SELECT count(*) FROM {deliveries} d WHERE d.subscription_id = s.id AND d.state = 'pending'),"
    " (SELECT count(*) FROM {deliveries} d WHERE d.subscription_id = s.id AND d.state = 'dead'),"
    " coalesce(extract(epoch FROM now() - (SELECT min(created_at) FROM {deliveries} d"
    " WHERE d.subscription_id = s.id AND d.state = 'pending')), 0)::float8"
    " FROM {subscriptions} s ORDER BY s.id"
).format(events=ledger_table(EVENTS), deliveries=DELIVERIES, subscriptions=SUBSCRIPTIONS)


def gauges(conn: Connection[Any]) -> list[GaugeMetricFamily]:
    """Each subscription's position, lag and queue, read when /metrics is scraped."""
    families = [
        GaugeMetricFamily("oms_webhook_position", "Last ledger position dispatched.", labels=["subscription"]),
        GaugeMetricFamily("oms_webhook_lag_events", "Ledger events not yet dispatched.", labels=["subscription"]),
        GaugeMetricFamily("oms_webhook_pending", "Deliveries waiting to be sent or retried.", labels=["subscription"]),
        GaugeMetricFamily("oms_webhook_dead", "Deliveries whose attempts ran out.", labels=["subscription"]),
        GaugeMetricFamily(
            "oms_webhook_oldest_pending_seconds", "Age of the oldest delivery not yet sent.", labels=["subscription"]
        ),
    ]
    for row in conn.execute(_GAUGES).fetchall():
        for family, value in zip(families, row[1:], strict=True):
            family.add_metric([row[0]], float(value))
    return families
