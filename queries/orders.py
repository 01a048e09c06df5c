"""Order status queries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import Connection, sql
from psycopg.rows import dict_row

from commands.customer_keys import EMAIL_INDEX_KEY_QUERY
from commands.eventstore.names import read_table
from commands.personal_data import email_hash
from domain.errors import OrderNotFound
from queries import pagination
from queries.desk_models import HoldRuleView
from queries.filters import Where
from queries.models import OrderDetail, OrderLineRow, OrderRow, OrdersPage

ORDERS = read_table("orders")
LINES = read_table("order_lines")
DESK = read_table("order_desk")
RULES = read_table("hold_rules")


def list_orders(
    conn: Connection[Any],
    *,
    status: str | None = None,
    on_hold: bool | None = None,
    channel: str | None = None,
    customer_id: str | None = None,
    email: str | None = None,
    placed_from: datetime | None = None,
    placed_to: datetime | None = None,
    updated_after: datetime | None = None,
    changed_after: int | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> OrdersPage:
    """Newest first; ``placed_to`` is exclusive."""
    where = Where().equals(status=status, channel=channel, customer_id=customer_id, on_hold=on_hold)
    if email is not None:
        where.add(sql.SQL("email_hash = %s"), _email_hash(conn, email))
    if placed_from is not None:
        where.add(sql.SQL("placed_at >= %s"), placed_from)
    if placed_to is not None:
        where.add(sql.SQL("placed_at < %s"), placed_to)
    if updated_after is not None:
        where.add(sql.SQL("updated_at > %s"), updated_after)
    if changed_after is not None:
        where.add(sql.SQL("last_position > %s"), changed_after)
    if cursor is not None:
        where.add(sql.SQL("(placed_at, order_id) < (%s::timestamptz, %s)"), *pagination.decode(cursor, 2))
    query = sql.SQL("SELECT * FROM {} WHERE {} ORDER BY placed_at DESC, order_id DESC LIMIT %s").format(
        ORDERS, where.sql()
    )
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(query, [*where.params, limit + 1]).fetchall()
    items = [OrderRow.model_validate(r) for r in rows[:limit]]
    last = items[-1] if items else None
    next_cursor = pagination.encode([last.placed_at.isoformat(), last.order_id]) if last and len(rows) > limit else None
    return OrdersPage(items=items, next_cursor=next_cursor)


def _email_hash(conn: Connection[Any], email: str) -> str | None:
    """The keyed hash orders are indexed by (the key is the one row read outside the read schema)."""
    row = conn.execute(EMAIL_INDEX_KEY_QUERY).fetchone()
    return email_hash(bytes(row[0]), email) if row else None


def orders_on_hold(conn: Connection[Any]) -> int:
    row = conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE on_hold").format(ORDERS)).fetchone()
    return int(row[0]) if row else 0


def get_order(conn: Connection[Any], order_id: str) -> OrderDetail:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(sql.SQL("SELECT * FROM {} WHERE order_id = %s").format(ORDERS), (order_id,)).fetchone()
        if row is None:
            raise OrderNotFound(f"no order {order_id!r}")
        lines = cur.execute(
            sql.SQL("SELECT * FROM {} WHERE order_id = %s ORDER BY sku").format(LINES), (order_id,)
        ).fetchall()
        desk = cur.execute(sql.SQL("SELECT * FROM {} WHERE order_id = %s").format(DESK), (order_id,)).fetchone()
    return OrderDetail.of(row, [OrderLineRow.model_validate(li) for li in lines], desk or {})


def desk_documents(conn: Connection[Any], order_id: str, document: str) -> list[dict[str, Any]]:
    """One of the order's shipments, returns, payments, holds or notes (``projections.order_desk``)."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(
            sql.SQL("SELECT {} AS documents FROM {} WHERE order_id = %s").format(sql.Identifier(document), DESK),
            (order_id,),
        ).fetchone()
        if row is None:
            exists = cur.execute(sql.SQL("SELECT 1 FROM {} WHERE order_id = %s").format(ORDERS), (order_id,))
            if exists.fetchone() is None:
                raise OrderNotFound(f"no order {order_id!r}")
            return []
    documents: list[dict[str, Any]] = row["documents"]
    return documents


def hold_rules(conn: Connection[Any]) -> list[HoldRuleView]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(sql.SQL("SELECT * FROM {} ORDER BY rule_id").format(RULES)).fetchall()
    return [HoldRuleView.model_validate(r) for r in rows]
