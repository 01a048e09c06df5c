"""Stock availability queries."""

from __future__ import annotations

from typing import Any

from psycopg import Connection, sql
from psycopg.rows import dict_row

from commands.eventstore.names import read_table
from domain.errors import StockItemNotFound
from queries import pagination
from queries.filters import Where
from queries.models import LocationRow, StockOfSku, StockPage, StockRow, StockTotals

STOCK = read_table("stock")
TOTALS = read_table("stock_totals")
LOCATIONS = read_table("locations")


def list_stock(
    conn: Connection[Any],
    *,
    sku: str | None = None,
    location_id: str | None = None,
    low_stock: bool | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> StockPage:
    where = Where().equals(sku=sku, location_id=location_id, low_stock=low_stock)
    if cursor is not None:
        where.add(sql.SQL("(sku, location_id) > (%s, %s)"), *pagination.decode(cursor, 2))
    query = sql.SQL("SELECT * FROM {} WHERE {} ORDER BY sku, location_id LIMIT %s").format(STOCK, where.sql())
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(query, [*where.params, limit + 1]).fetchall()
    items = [StockRow.model_validate(r) for r in rows[:limit]]
    more = len(rows) > limit
    return StockPage(
        items=items, next_cursor=pagination.encode([items[-1].sku, items[-1].location_id]) if more else None
    )


def stock_of_sku(conn: Connection[Any], sku: str) -> StockOfSku:
    with conn.cursor(row_factory=dict_row) as cur:
        total = cur.execute(sql.SQL("SELECT * FROM {} WHERE sku = %s").format(TOTALS), (sku,)).fetchone()
        if total is None:
            raise StockItemNotFound(f"no stock of {sku!r} has been recorded")
        rows = cur.execute(
            sql.SQL("SELECT * FROM {} WHERE sku = %s ORDER BY location_id").format(STOCK), (sku,)
        ).fetchall()
    return StockOfSku(
        sku=sku, total=StockTotals.model_validate(total), locations=[StockRow.model_validate(r) for r in rows]
    )


def list_locations(conn: Connection[Any]) -> list[LocationRow]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(sql.SQL("SELECT * FROM {} ORDER BY priority, location_id").format(LOCATIONS)).fetchall()
    return [LocationRow.model_validate(r) for r in rows]
