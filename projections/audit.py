"""Audit history: every event in ledger order, with who, when and a sentence a person reads."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import Cursor, sql

from domain.locations import Location
from domain.orders import Order
from domain.stock import StockItem
from projections.base import Tables
from projections.events import Recorded
from projections.summaries import stream_label, summarize

# audit_events' columns, for COPY in binary: the server then parses no text timestamps or ids.
_COLUMN_TYPES = [
    "int8",
    "uuid",
    "text",
    "int8",
    "text",
    "timestamptz",
    "timestamptz",
    "text",
    "text",
    "text",
    "text",
    "text",
]


class AuditProjection:
    name = "audit"
    tables: tuple[str, ...] = ("audit_events", "audit_streams")

    def create(self, cur: Cursor[Any], t: Tables) -> None:
        cur.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                " position bigint PRIMARY KEY, stream_id uuid NOT NULL, stream_type text NOT NULL,"
                " version bigint NOT NULL, type text NOT NULL, occurred_at timestamptz NOT NULL,"
                " recorded_at timestamptz NOT NULL, actor text NOT NULL, correlation_id text NOT NULL,"
                " causation_id text, summary text NOT NULL, order_id text)"
            ).format(t["audit_events"])
        )
        cur.execute(
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (stream_id, version)").format(
                sql.Identifier(t.bare("audit_events") + "_stream_idx"), t["audit_events"]
            )
        )
        cur.execute(
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (order_id, position)").format(
                sql.Identifier(t.bare("audit_events") + "_order_idx"), t["audit_events"]
            )
        )
        cur.execute(
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (actor, position)").format(
                sql.Identifier(t.bare("audit_events") + "_actor_idx"), t["audit_events"]
            )
        )
        cur.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (stream_id uuid PRIMARY KEY, kind text NOT NULL, label text NOT NULL,"
                " key text)"
            ).format(t["audit_streams"])
        )

    def apply(self, cur: Cursor[Any], batch: list[Recorded], t: Tables) -> None:
        ids = list({r.stream_id for r in batch})
        streams: dict[UUID, tuple[str, str, str | None]] = {
            row["stream_id"]: (row["kind"], row["label"], row["key"])
            for row in cur.execute(
                sql.SQL("SELECT * FROM {} WHERE stream_id = ANY(%s)").format(t["audit_streams"]), (ids,)
            ).fetchall()
        }
        places = {
            row["key"]: row["label"]
            for row in cur.execute(
                sql.SQL("SELECT key, label FROM {} WHERE kind = 'location'").format(t["audit_streams"])
            ).fetchall()
        }
        new_streams = []
        rows = []
        for recorded in batch:
            event = recorded.event
            labelled = stream_label(event)
            if labelled is not None and recorded.stream_id not in streams:
                key = _stream_key(event)
                streams[recorded.stream_id] = (*labelled, key)
                new_streams.append((recorded.stream_id, *labelled, key))
                if labelled[0] == "location" and key is not None:
                    places[key] = labelled[1]
            kind, label, key = streams.get(recorded.stream_id, ("unknown", str(recorded.stream_id), None))
            where = places.get(key or "", key or "") if kind == "stock_item" else ""
            order_id = key if kind == "order" else getattr(event, "order_id", None)
            rows.append(
                (
                    recorded.position,
                    recorded.stream_id,
                    kind,
                    recorded.version,
                    recorded.kind,
                    event.occurred_at,
                    event.timestamp,
                    event.actor,
                    event.correlation_id,
                    event.causation_id,
                    summarize(event, label, places, where),
                    order_id,
                )
            )
        if new_streams:
            cur.executemany(
                sql.SQL("INSERT INTO {} VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING").format(t["audit_streams"]),
                new_streams,
            )
        # COPY: one row per event makes this the projection's bulk of work.
        with cur.copy(sql.SQL("COPY {} FROM STDIN (FORMAT BINARY)").format(t["audit_events"])) as copy:
            copy.set_types(_COLUMN_TYPES)
            for row in rows:
                copy.write_row(row)


def _stream_key(event: object) -> str | None:
    """What a stream is looked up by: a location's id, an order's id, a stock item's location."""
    if isinstance(event, Location.Registered | StockItem.Opened):
        return event.location_id
    if isinstance(event, Order.Placed):
        return event.order_id
    return None
