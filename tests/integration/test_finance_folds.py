"""Random histories of priced orders, payments, cancellations and returns; then every finance
figure equals a fold of the events computed here, and the payment limits held after every event.

The fold reads only the events' recorded amounts (placed lines, their discounts and taxes, the
shipping, what each cancellation and return took, fees and payments) and the formulas of
docs/read-models.md; it shares no code with the projection or the domain's money.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commands import messages as m
from commands.ledger import Ledger
from domain.errors import LedgerError
from domain.locations import LocationKind
from domain.orders import Order
from domain.payments import PaymentKind
from domain.pricing import Discount, ShippingTerms, TaxRate
from domain.stock import Disposition
from tests.helpers import execute
from tests.projection_helpers import events, project_all, table

D = Decimal
ZERO = D(0)
SKUS = ["A", "B", "C"]
cents = st.integers(0, 5000).map(lambda c: D(c) / 100)
rate = st.sampled_from([D("0.2"), D("0.05"), D("0.175"), D(0)])
line = st.tuples(
    st.sampled_from(SKUS),
    st.integers(1, 4),
    st.integers(0, 3000).map(lambda c: D(c) / 100),
    st.none() | st.integers(0, 100),  # a line discount, as a percent of the line
    st.none() | rate,
)
place = st.tuples(
    st.just("place"),
    st.lists(line, min_size=1, max_size=3, unique_by=lambda t: t[0]),
    st.none() | st.integers(0, 100),  # an order discount, as a percent of what is left
    st.none() | st.tuples(cents, st.integers(0, 100), st.none() | rate),  # shipping fee, discount %, tax
    st.booleans(),  # prices include tax
    st.sampled_from(["web", "b2b"]),
    st.integers(0, 5),  # days ago
)
which = st.integers(0, 50)
intent = st.one_of(
    place,
    place,
    st.tuples(st.just("pay"), which, st.sampled_from(PaymentKind), st.integers(1, 120)),  # percent of owed
    st.tuples(st.just("pay"), which, st.sampled_from(PaymentKind), st.integers(1, 120)),
    st.tuples(st.just("cancel"), which, st.booleans(), st.booleans()),
    st.tuples(st.just("ship"), which),
    st.tuples(st.just("return"), which, st.booleans(), st.booleans(), st.integers(0, 50)),
)


def _part(amount: Decimal, percent: int) -> Decimal:
    return (amount * percent / 100).quantize(D("0.01"))


class History:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.now = datetime.now(UTC) - timedelta(hours=1)
        self.orders: list[str] = []
        with contextlib.suppress(LedgerError):
            execute(
                ledger,
                m.RegisterLocation(location_id="wh", name="WH", kind=LocationKind.WAREHOUSE, priority=1),
            )
        for sku in SKUS:
            execute(ledger, m.ReceiveStock(sku=sku, location_id="wh", quantity=1000))

    def run(self, step: tuple[Any, ...], n: int) -> None:
        with contextlib.suppress(LedgerError):
            self._run(step, self.now - timedelta(days=5) + timedelta(hours=n))

    def _order(self, i: int) -> Order:
        found: Order = self.ledger.repository.get(Order.id_for(self.orders[i % len(self.orders)]))
        return found

    def _run(self, step: tuple[Any, ...], at: datetime) -> None:
        kind, *a = step
        L = self.ledger
        if kind == "place":
            lines, order_discount, shipping, inclusive, channel, _ = a
            order_lines = tuple(
                m.OrderLine(
                    sku=s,
                    quantity=q,
                    unit_price=p,
                    discounts=(Discount("L", _part(p * q, d)),) if d is not None else (),
                    taxes=(TaxRate("VAT", r),) if r is not None else (),
                )
                for s, q, p, d, r in lines
            )
            left = sum((li.unit_price * li.quantity - sum(d.amount for d in li.discounts) for li in order_lines), ZERO)
            result = execute(
                L,
                m.PlaceOrder(
                    channel=channel,
                    customer_id="c",
                    currency="GBP",
                    occurred_at=at,
                    lines=order_lines,
                    prices_include_tax=inclusive,
                    discounts=(Discount("O", _part(left, order_discount)),) if order_discount is not None else (),
                    shipping=(
                        (
                            ShippingTerms(
                                "ship",
                                shipping[0],
                                _part(shipping[0], shipping[1]),
                                (TaxRate("VAT", shipping[2]),) if shipping[2] is not None else (),
                            ),
                        )
                        if shipping
                        else ()
                    ),
                ),
            )
            self.orders.append(result.id)
        elif not self.orders:
            return
        elif kind == "pay":
            order = self._order(a[0])
            # Mostly within the limits, sometimes beyond them (up to 120%).
            base = {
                PaymentKind.VOID: order.payments.open_authorization,
                PaymentKind.REFUND: order.payments.kept,
            }.get(a[1], order.money.owed)
            amount = max(_part(base, a[2]), D("0.01"))
            execute(L, m.RecordPayment(order_id=order.order_id, kind=a[1], amount=amount, occurred_at=at))
        elif kind == "cancel":
            order = self._order(a[0])
            open_lines = sorted(s for s, li in order.lines.items() if li.open_units)
            lines = None if a[1] or not open_lines else (m.LineQuantity(sku=open_lines[0], quantity=1),)
            execute(L, m.CancelOrder(order_id=order.order_id, reason="r", lines=lines, refund=a[2], occurred_at=at))
        elif kind == "ship":
            execute(L, m.ShipOrder(order_id=self._order(a[0]).order_id, occurred_at=at))
        elif kind == "return":
            order = self._order(a[0])
            left = [(s, li.shipped - li.return_requested) for s, li in sorted(order.lines.items())]
            s, units = max(left, key=lambda x: x[1])
            if units > 0:
                done = execute(
                    L,
                    m.RequestReturn(
                        order_id=order.order_id, lines=(m.ReturnLine(sku=s, quantity=1, reason="r"),), occurred_at=at
                    ),
                )
                execute(
                    L,
                    m.ReceiveReturn(
                        order_id=order.order_id,
                        return_id=done.extra["return_id"],
                        location_id="wh",
                        lines=(m.ReturnReceiptLine(sku=s, quantity=1, disposition=Disposition.RESTOCK),),
                        refund_shipping=a[1],
                        refund=a[2],
                        restocking_fee=D(a[3]) / 100 if a[3] < 10 else ZERO,
                        occurred_at=at,
                    ),
                )


# --- the fold ------------------------------------------------------------------------

FIGURES = [
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
]


def _total(gross: Decimal, discount: Decimal, tax: Decimal, inclusive: bool) -> Decimal:
    return gross - discount + (ZERO if inclusive else tax)


def _net(gross: Decimal, discount: Decimal, tax: Decimal, inclusive: bool) -> Decimal:
    return gross - discount - (tax if inclusive else ZERO)


class Folded:
    """One order as its events say, in three-part amounts (price, discount, tax)."""

    def __init__(self, e: Order.Placed) -> None:
        self.currency, self.channel, self.inclusive = e.currency, e.channel, e.prices_include_tax
        self.placed = [
            sum((li.unit_price * li.quantity for li in e.lines), ZERO),
            sum((d.amount for li in e.lines for d in li.discounts), ZERO),
            sum((t.amount for li in e.lines for t in li.taxes), ZERO),
        ]
        self.shipping = [
            sum((s.fee for s in e.shipping), ZERO),
            sum((s.discount for s in e.shipping), ZERO),
            sum((t.amount for s in e.shipping for t in s.taxes), ZERO),
        ]
        self.cancelled, self.returned = [ZERO] * 3, [ZERO] * 3
        self.shipping_off = [ZERO] * 3
        self.fees = ZERO
        self.pay: dict[str, Decimal] = defaultdict(Decimal)
        self.peak_owed = self.owed()

    def apply(self, e: Any) -> None:
        if isinstance(e, Order.Cancelled | Order.ReturnReceived):
            into = self.cancelled if isinstance(e, Order.Cancelled) else self.returned
            for li in e.lines:
                a = li.amounts
                into[:] = [into[0] + a.gross, into[1] + a.discount, into[2] + a.tax]
            s = e.shipping
            self.shipping_off[:] = [
                self.shipping_off[0] + s.gross,
                self.shipping_off[1] + s.discount,
                self.shipping_off[2] + s.tax,
            ]
            if isinstance(e, Order.ReturnReceived):
                self.fees += e.restocking_fee
        elif isinstance(e, Order.PaymentCaptured):
            self.pay["captured"] += e.amount
            self.pay["authorized"] += e.authorized
        elif isinstance(e, Order.PaymentAuthorized):
            self.pay["authorized"] += e.amount
        elif isinstance(e, Order.PaymentVoided):
            self.pay["voided"] += e.amount
        elif isinstance(e, Order.PaymentRefunded):
            self.pay["refunded"] += e.amount
        self.peak_owed = max(self.peak_owed, self.owed())

    def owed(self) -> Decimal:
        kept = [p - c - r for p, c, r in zip(self.placed, self.cancelled, self.returned, strict=True)]
        ship = [s - o for s, o in zip(self.shipping, self.shipping_off, strict=True)]
        return _total(*kept, self.inclusive) + _total(*ship, self.inclusive) + self.fees

    def figures(self) -> dict[str, Decimal]:
        i = self.inclusive
        kept = [p - c - r for p, c, r in zip(self.placed, self.cancelled, self.returned, strict=True)]
        ship = [s - o for s, o in zip(self.shipping, self.shipping_off, strict=True)]
        p = self.pay
        open_authorization = p["authorized"] - p["voided"] - p["captured"]
        balance = self.owed() - (p["captured"] - p["refunded"])
        return {
            "gross_sales": self.placed[0] - (self.placed[2] if i else ZERO),
            "discounts": self.placed[1],
            "cancellations": _net(*self.cancelled, i),
            "returns": _net(*self.returned, i),
            "shipping": _net(*ship, i),
            "tax": kept[2] + ship[2],
            "fees": self.fees,
            "authorized": p["authorized"],
            "captured": p["captured"],
            "voided": p["voided"],
            "refunded": p["refunded"],
            "open_authorization": open_authorization,
            "balance_due": max(balance, ZERO),
            "refund_due": max(-balance, ZERO),
        }


def fold(history: list[tuple[int, Any]]) -> tuple[dict[tuple[Any, ...], dict[str, Any]], list[tuple[Any, ...]]]:
    orders: dict[Any, Folded] = {}
    days: dict[tuple[Any, ...], dict[str, Any]] = defaultdict(lambda: defaultdict(Decimal))
    payments = []
    for position, e in history:
        if not isinstance(e, Order.Event | Order.Placed):
            continue
        if isinstance(e, Order.Placed):
            o = orders[e.originator_id] = Folded(e)
            before = dict.fromkeys(FIGURES, ZERO)
        else:
            o = orders[e.originator_id]
            before = o.figures()
            o.apply(e)
        day = days[(e.occurred_at.astimezone(UTC).date(), o.currency, o.channel)]
        day["orders"] += int(isinstance(e, Order.Placed))
        for name, value in o.figures().items():
            day[name] += value - before[name]
        p = o.pay
        # The limits, after every event: refunded <= captured <= authorized (less voids) <= owed.
        assert ZERO <= p["refunded"] <= p["captured"] <= p["authorized"] - p["voided"], (position, dict(p))
        assert p["authorized"] - p["voided"] <= o.peak_owed, (position, dict(p), o.peak_owed)
        if type(e).__name__.startswith("Payment"):
            payments.append((position, type(e).__name__, e.amount, getattr(e, "return_id", None)))
    return days, payments


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(steps=st.lists(intent, min_size=5, max_size=50))
def test_finance_equals_a_fold_of_the_events(pg_ledger: Ledger, pg_url: str, steps: list[tuple[Any, ...]]) -> None:
    runner = History(pg_ledger)
    for n, step in enumerate(steps):
        runner.run(step, n)
    project_all(pg_url)
    expected_days, expected_payments = fold(events(pg_ledger))

    read = {(r["day"], r["currency"], r["channel"]): r for r in table(pg_url, "finance_daily", "day")}
    expected = {k: {n: v for n, v in row.items() if v} for k, row in expected_days.items()}
    assert {k: {n: read[k][n] for n in ["orders", *FIGURES] if read[k][n]} for k in read} == {
        k: v for k, v in expected.items() if v
    }
    kinds = {"PaymentAuthorized": "authorization", "PaymentCaptured": "capture", "PaymentVoided": "void"}
    assert [
        (r["position"], r["kind"], r["amount"], r["return_id"]) for r in table(pg_url, "finance_payments", "position")
    ] == [(pos, kinds.get(name, "refund"), amount, rid) for pos, name, amount, rid in expected_payments]
    # Per order, the balances the orders read model shows are the sums of the daily changes.
    orders = table(pg_url, "orders", "order_id")
    for name in ("balance_due", "refund_due", "open_authorization"):
        assert sum((r[name] for r in orders), ZERO) == sum((r[name] for r in read.values()), ZERO)
