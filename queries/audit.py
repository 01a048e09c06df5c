"""Audit history: the feed of every event, and one order's timeline."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import Connection, sql
from psycopg.rows import dict_row
from pydantic import BaseModel

from commands.eventstore.names import read_table
from domain.errors import OrderNotFound
from queries.filters import Where

EVENTS = read_table("audit_events")
COLUMNS = sql.SQL(
    "position, stream_id, stream_type, version, type, occurred_at, recorded_at, actor, correlation_id,"
    " causation_id, summary, order_id"
)


class AuditEvent(BaseModel):
    position: int
    stream_id: UUID
    stream_type: str
    version: int
    type: str
    occurred_at: datetime
    recorded_at: datetime
    actor: str
    correlation_id: str
    causation_id: str | None
    summary: str
    order_id: str | None


class AuditPage(BaseModel):
    items: list[AuditEvent]
    next_after: int | None


class Timeline(BaseModel):
    order_id: str
    events: list[AuditEvent]


def _where(
    after: int, stream_id: UUID | None, actor: str | None, event_type: str | None, types: list[str] | None = None
) -> Where:
    where = Where().equals(stream_id=stream_id, actor=actor, type=event_type).add(sql.SQL("position > %s"), after)
    if types:
        where.add(sql.SQL("type = ANY(%s)"), types)
    return where


def events_page(
    conn: Connection[Any],
    *,
    after: int = 0,
    limit: int = 100,
    stream_id: UUID | None = None,
    actor: str | None = None,
    event_type: str | None = None,
    types: list[str] | None = None,
) -> AuditPage:
    where = _where(after, stream_id, actor, event_type, types)
    query = sql.SQL("SELECT {} FROM {} WHERE {} ORDER BY position LIMIT %s").format(COLUMNS, EVENTS, where.sql())
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(query, [*where.params, limit + 1]).fetchall()
    items = [AuditEvent.model_validate(r) for r in rows[:limit]]
    return AuditPage(items=items, next_after=items[-1].position if len(rows) > limit else None)


def stream_events(
    conn: Connection[Any],
    *,
    after: int = 0,
    stream_id: UUID | None = None,
    actor: str | None = None,
    event_type: str | None = None,
    types: list[str] | None = None,
    chunk: int = 2000,
) -> Iterator[AuditEvent]:
    """Every matching event after ``after``, fetched a chunk at a time."""
    while True:
        page = events_page(
            conn, after=after, limit=chunk, stream_id=stream_id, actor=actor, event_type=event_type, types=types
        )
        yield from page.items
        if page.next_after is None:
            return
        after = page.next_after


def timeline(conn: Connection[Any], order_id: str) -> Timeline:
    """The order's events and every stock movement it caused, in ledger order."""
    query = sql.SQL("SELECT {} FROM {} WHERE order_id = %s ORDER BY position").format(COLUMNS, EVENTS)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(query, (order_id,)).fetchall()
    if not rows:
        raise OrderNotFound(f"no order {order_id!r}")
    return Timeline(order_id=order_id, events=[AuditEvent.model_validate(r) for r in rows])
