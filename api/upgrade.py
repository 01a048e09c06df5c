"""Numbered schema migrations, recorded in ``ledger.schema_migrations``.

``oms db upgrade`` applies the pending ones in order, each in its own transaction with its row
in the version table, under an advisory lock, so concurrent upgrades wait for each other and
none runs twice. ``oms db status`` lists them. The first ones are written so that a database
made before the version table existed (whose tables they find in place) takes them harmlessly;
a migration added from now on runs exactly once and need not be idempotent.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import Connection, sql

from api import keys
from api.database import ledger_env
from api.notifications import store as notification_store
from api.notifications.notifier import NAME as NOTIFIER
from api.notifications.tracking import tracking_key_ddl
from api.webhooks import store as webhook_store
from commands.customer_keys import ddl as customer_keys_ddl
from commands.customer_keys import email_index_ddl
from commands.eventstore.appends import expect_head_ddl
from commands.eventstore.names import (
    CHECKPOINTS,
    EVENT_HASHES,
    EVENT_TIMES,
    EVENTS,
    IDEMPOTENCY_KEYS,
    LEDGER_SCHEMA,
    READ_SCHEMA,
    SCHEMA_MIGRATIONS,
    SNAPSHOTS,
    ledger_table,
    read_table,
)
from commands.ledger import Ledger
from projections.events import make_mapper
from projections.registry import all_projections, create_read_schema
from projections.runner import POSITIONS

# An arbitrary, fixed key: every process that upgrades this database takes the same lock.
UPGRADE_LOCK_KEY = 7_305_118_402_001

VERSIONS = ledger_table(SCHEMA_MIGRATIONS)

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Migration:
    number: int
    name: str
    apply: Callable[[Connection[Any], str], None]  # the connection, in a transaction; the database's URL


@dataclass(frozen=True, slots=True)
class Applied:
    number: int
    name: str
    applied_at: datetime | None  # None: pending


def _library_tables(conn: Connection[Any], url: str) -> None:
    """The eventsourcing library's events and snapshots tables, as its own DDL makes them."""
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(LEDGER_SCHEMA)))
    conn.commit()  # the library creates its tables on its own connection, which must see the schema
    Ledger(env=ledger_env(url, pool_size=1, create_tables=True)).close()


def _beside_the_events(conn: Connection[Any], url: str) -> None:
    conn.execute(
        sql.SQL("CREATE TABLE IF NOT EXISTS {} (notification_id bigint PRIMARY KEY, hash bytea NOT NULL)").format(
            ledger_table(EVENT_HASHES)
        )
    )
    conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (scope text NOT NULL, key text NOT NULL, request_hash text NOT NULL,"
            " result jsonb NOT NULL, recorded_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (scope, key))"
        ).format(ledger_table(IDEMPOTENCY_KEYS))
    )
    times = ledger_table(EVENT_TIMES)
    conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (originator_id uuid NOT NULL, originator_version bigint NOT NULL,"
            " occurred_at timestamptz NOT NULL, recorded_at timestamptz NOT NULL, out_of_order boolean)"
        ).format(times)
    )


def _time_index(conn: Connection[Any], url: str) -> None:
    """``out_of_order`` worked out for rows written before it existed; no key on (stream, version),
    which the events' own key already makes unique; the indexes for as-of reads."""
    times = ledger_table(EVENT_TIMES)
    # Dropped only where it exists, since even a no-op ALTER TABLE would lock the table against writers.
    found = conn.execute(
        "SELECT 1 FROM pg_constraint WHERE conname = 'event_times_pkey' AND connamespace = %s::regnamespace",
        (LEDGER_SCHEMA,),
    ).fetchone()
    if found is not None:
        conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT event_times_pkey").format(times))
    conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS out_of_order boolean").format(times))
    conn.execute(
        sql.SQL(
            "UPDATE {times} t SET out_of_order = o.out_of_order FROM (SELECT originator_id, originator_version,"
            " coalesce(occurred_at < max(occurred_at) OVER w, false)"
            " OR coalesce(recorded_at < max(recorded_at) OVER w, false) AS out_of_order FROM {times}"
            " WINDOW w AS (PARTITION BY originator_id ORDER BY originator_version"
            " ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)) o"
            " WHERE t.out_of_order IS NULL"
            " AND (t.originator_id, t.originator_version) = (o.originator_id, o.originator_version)"
        ).format(times=times)
    )
    conn.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN out_of_order SET NOT NULL").format(times))
    for field in ("occurred_at", "recorded_at"):
        conn.execute(
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (originator_id, {}, originator_version)").format(
                sql.Identifier(f"event_times_{field}"), times, sql.Identifier(field)
            )
        )
    conn.execute(
        sql.SQL(
            "CREATE INDEX IF NOT EXISTS event_times_out_of_order ON {} (originator_id, originator_version)"
            " WHERE out_of_order"
        ).format(times)
    )


def _customer_keys(conn: Connection[Any], url: str) -> None:
    for statement in customer_keys_ddl():
        conn.execute(statement)


def _api_keys(conn: Connection[Any], url: str) -> None:
    for statement in keys.DDL:
        conn.execute(statement)


def _read_models(conn: Connection[Any], url: str) -> None:
    with conn.cursor() as cur:
        create_read_schema(cur, make_mapper())


def _sealed_ship_to(conn: Connection[Any], url: str) -> None:
    """Order rows made before personal data was sealed lack its column."""
    conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS personal_data text").format(read_table("orders")))


def _seals(conn: Connection[Any], url: str) -> None:
    """Seals on the rows the service trusts (``commands.seals``), and the signed checkpoints.
    Nullable columns without a default: adding them rewrites nothing, so it is instant on any
    size of table. Rows from before carry no seal, and are not trusted (see docs/audit.md). Written
    to run again harmlessly, like the first seven."""
    conn.execute(
        sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS event_hash bytea, ADD COLUMN IF NOT EXISTS seal bytea").format(
            ledger_table(SNAPSHOTS)
        )
    )
    conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS seal bytea").format(ledger_table(EVENT_HASHES)))
    conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS digest bytea").format(ledger_table(IDEMPOTENCY_KEYS)))
    conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (id bigserial PRIMARY KEY, position bigint NOT NULL, hash bytea NOT NULL,"
            " events bigint NOT NULL, content bytea NOT NULL, signed_at timestamptz NOT NULL,"
            " key_id text NOT NULL, public_key text NOT NULL, signature bytea NOT NULL,"
            " document jsonb NOT NULL)"
        ).format(ledger_table(CHECKPOINTS))
    )
    conn.execute(
        sql.SQL("CREATE INDEX IF NOT EXISTS checkpoints_position ON {} (position DESC)").format(
            ledger_table(CHECKPOINTS)
        )
    )


def _money(conn: Connection[Any], url: str) -> None:
    """Order money: the orders and KPI read models gain columns that only a fold of every order's
    events can fill, so their tables are dropped with their positions and built again from the
    ledger by the projection runner (as ``oms projections rebuild`` would, without the swap); the
    finance read model is new and starts from the beginning too."""
    _refold(conn, {"orders": ("orders", "owed"), "kpis": ("fulfillment_gmv", "net_revenue")})


def _order_desk(conn: Connection[Any], url: str) -> None:
    """The order desk: the orders read model gains holds, the shipments, returns, payments and
    notes documents and the email index, the KPIs orders held and hours on hold; both are folded
    again from the ledger. The email index's key is made once, beside the customer keys."""
    for statement in email_index_ddl():
        conn.execute(statement, {"secret": os.urandom(32)})
    _refold(conn, {"orders": ("orders", "on_hold"), "kpis": ("fulfillment_daily", "orders_held")})


def _outbound(conn: Connection[Any], url: str) -> None:
    """What leaves the ledger: webhook subscriptions, deliveries and attempts; the emails sent to
    customers and their opt-outs; the key of the customers' tracking links."""
    for statement in (*webhook_store.DDL, *notification_store.DDL):
        conn.execute(statement)
    conn.execute(tracking_key_ddl()[0])
    conn.execute(tracking_key_ddl()[1], {"secret": os.urandom(32)})
    # Emails go for events recorded from now on: a ledger that had orders before must not write
    # to every customer it ever had once an SMTP server is set.
    conn.execute(
        sql.SQL(
            "INSERT INTO {} (name, position) SELECT %s, coalesce(max(notification_id), 0) FROM {}"
            " ON CONFLICT (name) DO NOTHING"
        ).format(POSITIONS, ledger_table(EVENTS)),
        (NOTIFIER,),
    )


def _expect_head(conn: Connection[Any], url: str) -> None:
    """The function with which the one writer checks, under the lock, that the ledger's head is the
    one it numbered its batch after (``commands.eventstore.appends``)."""
    conn.execute(expect_head_ddl())


def _refold(conn: Connection[Any], built: dict[str, tuple[str, str]]) -> None:
    """Drop each named projection's tables and position unless ``table`` has ``column`` already
    (run again, it leaves them alone); the runner builds them again from the ledger."""
    mapper = make_mapper()
    projections = all_projections(mapper)
    with conn.cursor() as cur:
        for name, (table, column) in built.items():
            found = cur.execute(
                "SELECT 1 FROM information_schema.columns WHERE table_schema = %s AND table_name = %s"
                " AND column_name = %s",
                (READ_SCHEMA, table, column),
            ).fetchone()
            if found:
                continue
            for owned in projections[name].tables:
                cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(read_table(owned)))
            cur.execute(sql.SQL("DELETE FROM {} WHERE name = %s").format(POSITIONS), (name,))
        create_read_schema(cur, mapper)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "ledger schema; the library's events and snapshots tables", _library_tables),
    Migration(2, "hash chain, idempotency records and time index beside the events", _beside_the_events),
    Migration(3, "time index: out_of_order, indexes for as-of on both clocks", _time_index),
    Migration(4, "customer keys and erasures", _customer_keys),
    Migration(5, "API keys", _api_keys),
    Migration(6, "read models and projection positions", _read_models),
    Migration(7, "orders read model: sealed ship-to column", _sealed_ship_to),
    Migration(8, "seals on snapshots, idempotency records and batch ends; signed checkpoints", _seals),
    Migration(9, "order money: orders and KPI read models rebuilt with their new columns; finance read model", _money),
    Migration(10, "order desk: orders and KPI read models rebuilt with holds and fulfilment documents", _order_desk),
    Migration(11, "webhooks, customer notifications and tracking links", _outbound),
    Migration(12, "ledger.expect_head: the writer's head check, for batches sent in one round trip", _expect_head),
)


def upgrade(url: str) -> list[int]:
    """Apply every pending migration in order; the numbers applied."""
    applied: list[int] = []
    with psycopg.connect(url, autocommit=True) as lock:
        lock.execute("SELECT pg_advisory_lock(%s)", (UPGRADE_LOCK_KEY,))
        try:
            with psycopg.connect(url) as conn:
                done = _ensure_versions(conn)
                for migration in MIGRATIONS:
                    if migration.number in done:
                        continue
                    log.info("applying migration %d: %s", migration.number, migration.name)
                    migration.apply(conn, url)
                    conn.execute(
                        sql.SQL("INSERT INTO {} (version, name) VALUES (%s, %s)").format(VERSIONS),
                        (migration.number, migration.name),
                    )
                    conn.commit()
                    applied.append(migration.number)
            log.info("database schema is up to date")
        finally:
            lock.execute("SELECT pg_advisory_unlock(%s)", (UPGRADE_LOCK_KEY,))
    return applied


def status(url: str) -> list[Applied]:
    """Every migration this version knows, with when it was applied (None: pending)."""
    with psycopg.connect(url) as conn:
        exists = conn.execute("SELECT to_regclass(%s)", (f"{LEDGER_SCHEMA}.{SCHEMA_MIGRATIONS}",)).fetchone()
        rows = (
            conn.execute(sql.SQL("SELECT version, applied_at FROM {}").format(VERSIONS)).fetchall()
            if exists and exists[0]
            else []
        )
    when: dict[int, datetime] = {row[0]: row[1] for row in rows}
    return [Applied(m.number, m.name, when.get(m.number)) for m in MIGRATIONS]


def _ensure_versions(conn: Connection[Any]) -> set[int]:
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(LEDGER_SCHEMA)))
    conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        ).format(VERSIONS)
    )
    conn.commit()
    return {row[0] for row in conn.execute(sql.SQL("SELECT version FROM {}").format(VERSIONS)).fetchall()}
