"""Finance: money per day, currency and channel, and every payment as its own row.

Each order's figures (``ORDER_FIGURES``) are kept beside its folded state. When an event
changes them, the change is added to the row of the day the event happened (its business time,
UTC), its order's currency and channel. So a day's row says what that day's placements,
cancellations, returns and payments did, every amount traceable to one event; the balances
(open authorizations, balance due, refund due) are running sums of their changes, which the
queries add up to a period's end. See docs/read-models.md (Finance) for each formula.
"""

from __future__ import annotations

from datetime import UTC
from decimal import Decimal
from typing import Any

from eventsourcing.persistence import Transcoder
from psycopg import Cursor, sql

from domain.order_money import shipping_kept
from domain.orders import Order
from domain.pricing import ZERO, sum_amounts
from projections import order_state
from projections.base import Tables
from projections.events import Recorded

ORDER_FIGURES = (
    "gross_sales",
    "discounts",
    "cancellations",
    "returns",
    "shipping",
    "tax",
    "fees",
    "authorized",
    "captured",
    "voided",
    "refunded",
    "open_authorization",
    "balance_due",
    "refund_due",
)
COUNTS = ("orders",)
KEY = ("day", "currency", "channel")
PAYMENTS = {
    "Order.PaymentAuthorized": "authorization",
    "Order.PaymentCaptured": "capture",
    "Order.PaymentVoided": "void",
    "Order.PaymentRefunded": "refund",
}


def figures(order: Order) -> dict[str, Decimal]:
    """The order's cumulative contribution: sales without tax, and its payments and balances."""
    inclusive = order.prices_include_tax
    lines = order.lines.values()
    placed = sum_amounts(li.amounts for li in lines)
    cancelled = sum_amounts(li.cancelled_amounts for li in lines)
    returned = sum_amounts(li.returned_amounts for li in lines)
    kept = placed - cancelled - returned
    shipping = shipping_kept(order)
    money = order.money
    p = order.payments
    return {
        "gross_sales": placed.gross - (placed.tax if inclusive else ZERO),
        "discounts": placed.discount,
        "cancellations": cancelled.net(inclusive),
        "returns": returned.net(inclusive),
        "shipping": shipping.net(inclusive),
        "tax": kept.tax + shipping.tax,
        "fees": order.fees,
        "authorized": p.authorized,
        "captured": p.captured,
        "voided": p.voided,
        "refunded": p.refunded,
        "open_authorization": p.open_authorization,
        "balance_due": money.balance_due,
        "refund_due": money.refund_due,
    }


class FinanceProjection:
    name = "finance"
    tables: tuple[str, ...] = ("finance_daily", "finance_payments", "finance_orders")

    def __init__(self, transcoder: Transcoder) -> None:
        self.transcoder = transcoder

    def create(self, cur: Cursor[Any], t: Tables) -> None:
        amounts = sql.SQL(", ").join(
            sql.SQL("{} numeric NOT NULL DEFAULT 0").format(sql.Identifier(c)) for c in ORDER_FIGURES
        )
        cur.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (day date NOT NULL, currency text NOT NULL, channel text NOT NULL,"
                " orders bigint NOT NULL DEFAULT 0, {}, PRIMARY KEY (day, currency, channel))"
            ).format(t["finance_daily"], amounts)
        )
        cur.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (position bigint PRIMARY KEY, order_id text NOT NULL,"
                " occurred_at timestamptz NOT NULL, day date NOT NULL, currency text NOT NULL, channel text NOT NULL,"
                " kind text NOT NULL, amount numeric NOT NULL, provider text, reference text, return_id text)"
            ).format(t["finance_payments"])
        )
        for columns in (("provider", "reference"), ("day", "position"), ("order_id", "position")):
            cur.execute(
                sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({})").format(
                    sql.Identifier(f"{t.bare('finance_payments')}_{'_'.join(columns)}_idx"),
                    t["finance_payments"],
                    sql.SQL(", ").join(map(sql.Identifier, columns)),
                )
            )
        order_state.create_table(cur, t["finance_orders"])

    def apply(self, cur: Cursor[Any], batch: list[Recorded], t: Tables) -> None:
        events = [r for r in batch if r.kind.startswith("Order.")]
        if not events:
            return
        known = order_state.load(cur, t["finance_orders"], list({r.stream_id for r in events}), self.transcoder)
        deltas: dict[tuple[Any, ...], dict[str, Any]] = {}
        payments: list[dict[str, Any]] = []

        def on_event(order: Order, extra: dict[str, Any], recorded: Recorded) -> None:
            event = recorded.event
            day = event.occurred_at.astimezone(UTC).date()
            after = figures(order)
            before = extra.get("figures") or {}
            row = deltas.setdefault((day, order.currency, order.channel), {})
            for name in ORDER_FIGURES:
                change = after[name] - before.get(name, ZERO)
                if change:
                    row[name] = row.get(name, ZERO) + change
            if isinstance(event, Order.Placed):
                row["orders"] = row.get("orders", 0) + 1
            extra["figures"] = after
            kind = PAYMENTS.get(recorded.kind)
            if kind is not None:
                payments.append(
                    {
                        "position": recorded.position,
                        "order_id": order.order_id,
                        "occurred_at": event.occurred_at,
                        "day": day,
                        "currency": order.currency,
                        "channel": order.channel,
                        "kind": kind,
                        "amount": event.amount,
                        "provider": event.provider,
                        "reference": event.reference,
                        "return_id": getattr(event, "return_id", None),
                    }
                )

        changed = order_state.fold(events, known, on_event)
        order_state.save(cur, t["finance_orders"], changed, self.transcoder)
        self._write_days(cur, t, {k: v for k, v in deltas.items() if v})
        if payments:
            columns = list(payments[0])
            cur.executemany(
                sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT (position) DO NOTHING").format(
                    t["finance_payments"],
                    sql.SQL(", ").join(map(sql.Identifier, columns)),
                    sql.SQL(", ").join(sql.Placeholder(c) for c in columns),
                ),
                payments,
            )

    def _write_days(self, cur: Cursor[Any], t: Tables, deltas: dict[tuple[Any, ...], dict[str, Any]]) -> None:
        columns = [*COUNTS, *ORDER_FIGURES]
        table = t["finance_daily"]
        cur.executemany(
            sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT (day, currency, channel) DO UPDATE SET {}").format(
                table,
                sql.SQL(", ").join(map(sql.Identifier, [*KEY, *columns])),
                sql.SQL(", ").join(sql.Placeholder(c) for c in [*KEY, *columns]),
                sql.SQL(", ").join(
                    sql.SQL("{0} = {1}.{0} + EXCLUDED.{0}").format(sql.Identifier(c), table) for c in columns
                ),
            ),
            [
                {**dict(zip(KEY, key, strict=True)), **{c: delta.get(c, 0) for c in columns}}
                for key, delta in sorted(deltas.items())
            ],
        )
