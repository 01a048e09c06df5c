"""Order status: one row per order with status, payment status, totals and milestones."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from eventsourcing.persistence import Transcoder
from psycopg import Cursor, sql

from domain.orders import DELIVERED_STATUSES, Line, Order, OrderStatus
from projections import emails, order_desk, order_state
from projections.base import Tables
from projections.events import Recorded

# The orders table, declared once: its DDL, its inserts and the API's OrderRow all follow this
# (tests/unit/test_read_model_columns.py checks _row and OrderRow against it). In the order
# the columns stand in the table: personal_data came, then the money (migration 9).
ORDER_COLUMNS: dict[str, str] = {
    "order_id": "text PRIMARY KEY",
    "stream_id": "uuid NOT NULL UNIQUE",
    "status": "text NOT NULL",
    "payment_status": "text NOT NULL",
    "return_status": "text NOT NULL",
    "channel": "text NOT NULL",
    "customer_id": "text NOT NULL",
    "currency": "text NOT NULL",
    "total": "numeric NOT NULL",
    "ordered_total": "numeric NOT NULL",
    "lines": "integer NOT NULL",
    "units_ordered": "bigint NOT NULL",
    "units_committed": "bigint NOT NULL",
    "units_backordered": "bigint NOT NULL",
    "units_shipped": "bigint NOT NULL",
    "units_delivered": "bigint NOT NULL",
    "units_cancelled": "bigint NOT NULL",
    "units_returned": "bigint NOT NULL",
    "authorized": "numeric NOT NULL",
    "captured": "numeric NOT NULL",
    "refunded": "numeric NOT NULL",
    "voided": "numeric NOT NULL",
    "location_id": "text",
    "placed_at": "timestamptz NOT NULL",
    "first_shipped_at": "timestamptz",
    "last_shipped_at": "timestamptz",
    "delivered_at": "timestamptz",
    "cancelled_at": "timestamptz",
    "promised_ship_by": "timestamptz",
    "promised_delivery_by": "timestamptz",
    "updated_at": "timestamptz NOT NULL",
    "version": "bigint NOT NULL",
    "last_position": "bigint NOT NULL",
    "personal_data": "text",
    "prices_include_tax": "boolean NOT NULL",
    "subtotal": "numeric NOT NULL",
    "discounts": "numeric NOT NULL",
    "shipping": "numeric NOT NULL",
    "tax": "numeric NOT NULL",
    "returns": "numeric NOT NULL",
    "fees": "numeric NOT NULL",
    "owed": "numeric NOT NULL",
    "open_authorization": "numeric NOT NULL",
    "balance_due": "numeric NOT NULL",
    "refund_due": "numeric NOT NULL",
    "refundable": "numeric NOT NULL",
    "on_hold": "boolean NOT NULL",
    "email_hash": "text",  # the ship-to email's keyed hash (projections.emails); never answered
}
# Each line's discounts and tax (of its units not cancelled) beside its counts.
LINE_AMOUNTS = ["discount", "tax"]
COLUMNS = list(ORDER_COLUMNS)


LINE_COUNTS = [
    "quantity",
    "committed",
    "backordered",
    "shipped",
    "delivered",
    "cancelled",
    "return_requested",
    "returned",
]


class OrdersProjection:
    name = "orders"
    tables: tuple[str, ...] = ("orders", "order_lines", "orders_state", "order_desk", "hold_rules")

    def __init__(self, transcoder: Transcoder) -> None:
        self.transcoder = transcoder

    def create(self, cur: Cursor[Any], t: Tables) -> None:
        cur.execute(
            sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(
                t["orders"],
                sql.SQL(", ").join(
                    sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(kind))  # kinds: constants above
                    for name, kind in ORDER_COLUMNS.items()
                ),
            )
        )
        for columns in (
            ("status", "placed_at"),
            ("customer_id", "placed_at"),
            ("channel", "placed_at"),
            ("placed_at", "order_id"),
            ("email_hash", "placed_at"),
        ):
            cur.execute(
                sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({})").format(
                    sql.Identifier(f"{t.bare('orders')}_{'_'.join(columns)}_idx"),
                    t["orders"],
                    sql.SQL(", ").join(map(sql.Identifier, columns)),
                )
            )
        # The hold queue: small, and counted on every scrape of /metrics (oms_orders_on_hold).
        cur.execute(
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (placed_at) WHERE on_hold").format(
                sql.Identifier(f"{t.bare('orders')}_on_hold_idx"), t["orders"]
            )
        )
        cur.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (order_id text NOT NULL, sku text NOT NULL, {},"
                " unit_price numeric NOT NULL, {}, PRIMARY KEY (order_id, sku))"
            ).format(
                t["order_lines"],
                sql.SQL(", ").join(sql.SQL("{} bigint NOT NULL").format(sql.Identifier(c)) for c in LINE_COUNTS),
                sql.SQL(", ").join(sql.SQL("{} numeric NOT NULL").format(sql.Identifier(c)) for c in LINE_AMOUNTS),
            )
        )
        order_state.create_table(cur, t["orders_state"])
        order_desk.create(cur, t)

    def apply(self, cur: Cursor[Any], batch: list[Recorded], t: Tables) -> None:
        order_desk.apply_rules(cur, [r for r in batch if r.kind.startswith("HoldRules.")], t)
        events = [r for r in batch if r.kind.startswith("Order.")]
        if not events:
            return
        known = order_state.load(cur, t["orders_state"], list({r.stream_id for r in events}), self.transcoder)
        changed = order_state.fold(events, known, _milestones)
        order_state.save(cur, t["orders_state"], changed, self.transcoder)
        rows = [_row(order, extra) for order, extra in changed.values()]
        found = emails.hashes(cur, [(row["customer_id"], row["personal_data"]) for row in rows])
        for row, email_hash in zip(rows, found, strict=True):
            row["email_hash"] = email_hash
        cur.execute(
            sql.SQL("DELETE FROM {} WHERE order_id = ANY(%s)").format(t["order_lines"]),
            ([row["order_id"] for row in rows],),
        )
        line_columns = ["order_id", "sku", *LINE_COUNTS, "unit_price", *LINE_AMOUNTS]
        cur.executemany(
            sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                t["order_lines"],
                sql.SQL(", ").join(map(sql.Identifier, line_columns)),
                sql.SQL(", ").join(sql.Placeholder(c) for c in line_columns),
            ),
            [
                {
                    "order_id": order.order_id,
                    **{c: getattr(line, c) for c in line_columns[1:-2]},
                    **_line_amounts(line),
                }
                for order, _ in changed.values()
                for line in order.lines.values()
            ],
        )
        updates = sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in COLUMNS[1:])
        cur.executemany(
            sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT (order_id) DO UPDATE SET {}").format(
                t["orders"],
                sql.SQL(", ").join(map(sql.Identifier, COLUMNS)),
                sql.SQL(", ").join(sql.Placeholder(c) for c in COLUMNS),
                updates,
            ),
            rows,
        )
        order_desk.save(cur, t, [order_desk.documents(order, extra) for order, extra in changed.values()])


def _milestones(order: Order, extra: dict[str, Any], recorded: Recorded) -> None:
    extra["version"], extra["last_position"] = recorded.version, recorded.position
    extra["updated_at"] = recorded.event.occurred_at
    status = order.status
    if status is OrderStatus.CANCELLED and extra.get("cancelled_at") is None:
        extra["cancelled_at"] = recorded.event.occurred_at
    if status in DELIVERED_STATUSES and extra.get("delivered_at") is None:
        extra["delivered_at"] = recorded.event.occurred_at
    order_desk.remember_payment(extra, recorded)


def _line_amounts(line: Line) -> dict[str, Decimal]:
    if not line.discounts and not line.taxes:
        return _NO_TERMS
    amounts = line.amounts - line.cancelled_amounts
    return {"discount": amounts.discount, "tax": amounts.tax}


_NO_TERMS = {"discount": Decimal(0), "tax": Decimal(0)}


def _row(order: Order, extra: dict[str, Any]) -> dict[str, Any]:
    shipped_at = [s.shipped_at for s in order.shipments.values()]
    money = order.money
    return {
        "order_id": order.order_id,
        "stream_id": order.id,
        "status": order.status,
        "payment_status": money.payment_status,
        "return_status": order.return_status,
        "channel": order.channel,
        "customer_id": order.customer_id,
        "personal_data": order.personal_data,
        "currency": order.currency,
        "ordered_total": order.ordered_total,
        "lines": len(order.lines),
        "units_ordered": order.total_of("quantity"),
        "units_committed": order.total_of("committed"),
        "units_backordered": order.total_of("backordered"),
        "units_shipped": order.total_of("shipped"),
        "units_delivered": order.total_of("delivered"),
        "units_cancelled": order.total_of("cancelled"),
        "units_returned": order.total_of("returned"),
        "prices_include_tax": order.prices_include_tax,
        **money.figures(),
        "location_id": extra["location_id"],
        "placed_at": order.placed_at,
        "first_shipped_at": min(shipped_at, default=None),
        "last_shipped_at": max(shipped_at, default=None),
        "delivered_at": extra.get("delivered_at"),
        "cancelled_at": extra.get("cancelled_at"),
        "promised_ship_by": order.promised_ship_by,
        "promised_delivery_by": order.promised_delivery_by,
        "updated_at": extra["updated_at"],
        "version": extra["version"],
        "last_position": extra["last_position"],
        "on_hold": bool(order.open_holds),
        "email_hash": None,  # filled in by apply, which can open the ship-to
    }
