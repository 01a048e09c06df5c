"""Per-order state for projections: the domain Order, folded forward event by event.

The read side folds an order exactly as the write side does (the domain's events
apply themselves), so status and payment status can never disagree between them.
The state is stored as a snapshot's, beside projection-specific extras, and comes back
through the library's snapshot path, so the Order's upcasters bring old rows up to date.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Snapshot
from eventsourcing.persistence import Transcoder
from eventsourcing.utils import get_topic
from psycopg import Cursor, sql

from domain.orders import Order

ORDER_TOPIC = get_topic(Order)


def create_table(cur: Cursor[Any], table: sql.Identifier) -> None:
    cur.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (stream_id uuid PRIMARY KEY, state bytea NOT NULL, extra bytea NOT NULL)"
        ).format(table)
    )


def load(
    cur: Cursor[Any], table: sql.Identifier, ids: list[UUID], transcoder: Transcoder
) -> dict[UUID, tuple[Order, dict[str, Any]]]:
    found = {}
    rows = cur.execute(
        sql.SQL("SELECT stream_id, state, extra FROM {} WHERE stream_id = ANY(%s)").format(table), (ids,)
    ).fetchall()
    for row in rows:
        state = transcoder.decode(bytes(row["state"]))
        version = state.pop("_version")
        state.pop("_id", None)  # rows written before the snapshot form kept it
        snapshot = Snapshot(
            originator_id=row["stream_id"],
            originator_version=version,
            timestamp=Snapshot.create_timestamp(),
            topic=ORDER_TOPIC,
            state=state,
        )
        order = snapshot.mutate(None)
        assert isinstance(order, Order)
        found[row["stream_id"]] = (order, transcoder.decode(bytes(row["extra"])))
    return found


def save(
    cur: Cursor[Any], table: sql.Identifier, orders: dict[UUID, tuple[Order, dict[str, Any]]], transcoder: Transcoder
) -> None:
    rows = []
    for stream_id, (order, extra) in orders.items():
        state = {"_version": order.version, **Snapshot.take(order).state}
        # Sorted keys: when each extra was first set depends on batch boundaries, and a
        # rebuild must write the same bytes as the run it replaces.
        rows.append((stream_id, transcoder.encode(state), transcoder.encode(dict(sorted(extra.items())))))
    cur.executemany(
        sql.SQL(
            "INSERT INTO {} VALUES (%s, %s, %s) ON CONFLICT (stream_id) DO UPDATE SET state = EXCLUDED.state,"
            " extra = EXCLUDED.extra"
        ).format(table),
        rows,
    )


def primary_location(placed: Order.Placed) -> str | None:
    """Where most of the order's units were committed at placement (ties: the lower id)."""
    units: dict[str, int] = {}
    for line in placed.lines:
        for allocation in line.allocations:
            held = allocation.committed + allocation.backordered
            units[allocation.location_id] = units.get(allocation.location_id, 0) + held
    return min(units, key=lambda loc: (-units[loc], loc)) if units else None


def fold(
    batch_events: list[Any], known: dict[UUID, tuple[Order, dict[str, Any]]], on_event: Any
) -> dict[UUID, tuple[Order, dict[str, Any]]]:
    """Apply Order events in order; ``on_event(order, extra, recorded)`` records extras after each."""
    changed: dict[UUID, tuple[Order, dict[str, Any]]] = {}
    for recorded in batch_events:
        event = recorded.event
        if isinstance(event, Order.Placed):
            placed = event.mutate(None)
            assert placed is not None
            order, extra = placed, {"location_id": primary_location(event)}
        else:
            order, extra = known[recorded.stream_id]
            event.mutate(order)
        on_event(order, extra, recorded)
        known[recorded.stream_id] = changed[recorded.stream_id] = (order, extra)
    return changed
