"""Stock availability: every bucket per SKU and location, totals per SKU, and locations."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg import Cursor, sql

from domain.buckets import INSIDE, ON_HAND
from domain.locations import Location
from domain.stock import StockItem
from projections.base import Tables
from projections.events import Recorded

BUCKETS = [b.value for b in INSIDE]
COLUMNS = [
    "sku",
    "location_id",
    "stream_id",
    *BUCKETS,
    "on_hand",
    "backorders",
    "reorder_point",
    "reorder_quantity",
    "safety_stock_target",
    "allow_backorder",
    "low_stock",
    "last_movement_at",
    "version",
    "last_position",
]


class StockProjection:
    name = "stock"
    tables: tuple[str, ...] = ("stock", "stock_totals", "locations")

    def create(self, cur: Cursor[Any], t: Tables) -> None:
        buckets = sql.SQL(", ").join(sql.SQL("{} bigint NOT NULL DEFAULT 0").format(sql.Identifier(b)) for b in BUCKETS)
        cur.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                " sku text NOT NULL, location_id text NOT NULL, stream_id uuid NOT NULL UNIQUE, {},"
                " on_hand bigint NOT NULL DEFAULT 0, backorders bigint NOT NULL DEFAULT 0,"
                " reorder_point bigint NOT NULL DEFAULT 0, reorder_quantity bigint NOT NULL DEFAULT 0,"
                " safety_stock_target bigint NOT NULL DEFAULT 0, allow_backorder boolean NOT NULL DEFAULT false,"
                " low_stock boolean NOT NULL DEFAULT true, last_movement_at timestamptz,"
                " version bigint NOT NULL, last_position bigint NOT NULL,"
                " PRIMARY KEY (sku, location_id))"
            ).format(t["stock"], buckets)
        )
        cur.execute(
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (location_id, sku)").format(
                sql.Identifier(t.bare("stock") + "_location_idx"), t["stock"]
            )
        )
        cur.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                " sku text PRIMARY KEY, locations bigint NOT NULL, {}, on_hand bigint NOT NULL DEFAULT 0,"
                " backorders bigint NOT NULL DEFAULT 0, reorder_point bigint NOT NULL DEFAULT 0,"
                " low_stock boolean NOT NULL, last_movement_at timestamptz)"
            ).format(t["stock_totals"], buckets)
        )
        cur.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (location_id text PRIMARY KEY, name text NOT NULL, kind text NOT NULL,"
                " priority integer NOT NULL, registered_at timestamptz NOT NULL, last_position bigint NOT NULL)"
            ).format(t["locations"])
        )

    def apply(self, cur: Cursor[Any], batch: list[Recorded], t: Tables) -> None:
        ids = list({r.stream_id for r in batch if r.kind.startswith("StockItem.")})
        rows: dict[UUID, dict[str, Any]] = {}
        if ids:
            select = sql.SQL("SELECT {} FROM {} WHERE stream_id = ANY(%s)").format(
                sql.SQL(", ").join(map(sql.Identifier, COLUMNS)), t["stock"]
            )
            rows = {row["stream_id"]: row for row in cur.execute(select, (ids,)).fetchall()}
        locations = []
        for recorded in batch:
            event = recorded.event
            if isinstance(event, Location.Registered):
                locations.append(
                    (event.location_id, event.name, event.kind, event.priority, event.occurred_at, recorded.position)
                )
                continue
            if not recorded.kind.startswith("StockItem."):
                continue
            if isinstance(event, StockItem.Opened):
                rows[recorded.stream_id] = _new_row(event.sku, event.location_id, recorded.stream_id)
            row = rows[recorded.stream_id]
            _apply(row, event)
            row["version"], row["last_position"] = recorded.version, recorded.position
        if rows:
            self._write(cur, t, list(rows.values()))
        if locations:
            cur.executemany(
                sql.SQL("INSERT INTO {} VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (location_id) DO NOTHING").format(
                    t["locations"]
                ),
                locations,
            )

    def _write(self, cur: Cursor[Any], t: Tables, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            row["on_hand"] = sum(row[b.value] for b in ON_HAND)
            row["low_stock"] = row["available"] <= row["reorder_point"]
        names = sql.SQL(", ").join(map(sql.Identifier, COLUMNS))
        updates = sql.SQL(", ").join(
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in COLUMNS if c not in ("sku", "location_id")
        )
        cur.executemany(
            sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT (sku, location_id) DO UPDATE SET {}").format(
                t["stock"], names, sql.SQL(", ").join(sql.Placeholder(c) for c in COLUMNS), updates
            ),
            rows,
        )
        sums = sql.SQL(", ").join(
            sql.SQL("sum({0})").format(sql.Identifier(c)) for c in [*BUCKETS, "on_hand", "backorders", "reorder_point"]
        )
        cur.execute(
            sql.SQL(
                "INSERT INTO {totals} SELECT sku, count(*), {sums}, sum(available) <= sum(reorder_point),"
                " max(last_movement_at) FROM {stock} WHERE sku = ANY(%s) GROUP BY sku"
                " ON CONFLICT (sku) DO UPDATE SET {updates}"
            ).format(
                totals=t["stock_totals"],
                sums=sums,
                stock=t["stock"],
                updates=sql.SQL(", ").join(
                    sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c))
                    for c in [
                        "locations",
                        *BUCKETS,
                        "on_hand",
                        "backorders",
                        "reorder_point",
                        "low_stock",
                        "last_movement_at",
                    ]
                ),
            ),
            (list({row["sku"] for row in rows}),),
        )


def _new_row(sku: str, location_id: str, stream_id: UUID) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(COLUMNS, 0)
    row.update(
        sku=sku,
        location_id=location_id,
        stream_id=stream_id,
        allow_backorder=False,
        low_stock=True,
        last_movement_at=None,
    )
    return row


def _apply(row: dict[str, Any], event: Any) -> None:
    if isinstance(event, StockItem.Movement):
        for bucket, sign in ((event.from_bucket, -1), (event.to_bucket, 1)):
            if bucket in row and bucket in BUCKETS:
                row[bucket] += sign * event.quantity
        if isinstance(event, StockItem.Committed):
            row["backorders"] += event.backordered
        elif isinstance(event, StockItem.Released | StockItem.Shipped):
            row["backorders"] -= event.backordered
        row["last_movement_at"] = event.occurred_at
    elif isinstance(event, StockItem.PolicySet):
        row.update(
            reorder_point=event.reorder_point,
            reorder_quantity=event.reorder_quantity,
            safety_stock_target=event.safety_stock,
            allow_backorder=event.allow_backorder,
        )
