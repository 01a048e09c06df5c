"""Random command histories; then every read model equals a fold of the events, computed here.

The folds below are written independently of the projections: they read the
events and derive each table's expected rows by the definitions in the README.
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
from domain.stock import AdjustmentReason, Disposition, StockItem
from tests.helpers import execute
from tests.projection_helpers import events, project_all, table

SKUS, LOCATIONS = ["A", "B", "C"], ["north", "south"]
sku, location, qty = st.sampled_from(SKUS), st.sampled_from(LOCATIONS), st.integers(1, 5)
receipt = st.tuples(st.just("receive"), sku, location, st.integers(5, 20))
follow_up = st.integers(0, 50)
intent = st.one_of(
    receipt,
    receipt,
    st.tuples(st.just("policy"), sku, location, st.booleans(), st.integers(0, 3)),
    st.tuples(st.just("adjust"), sku, location, st.integers(-3, 3).filter(bool)),
    st.tuples(
        st.just("place"),
        st.lists(st.tuples(sku, qty, st.integers(0, 900)), min_size=1, max_size=3, unique_by=lambda t: t[0]),
        st.none() | location,
        st.none() | st.integers(1, 72),
        st.integers(0, 20),
        st.sampled_from(["web", "b2b"]),
    ),
    st.tuples(st.just("pay"), st.integers(0, 50), st.sampled_from(PaymentKind), st.integers(1, 3000)),
    st.tuples(st.just("cancel"), st.integers(0, 50), st.booleans()),
    st.tuples(st.just("ship"), follow_up, st.integers(0, 80)),
    st.tuples(st.just("ship"), follow_up, st.integers(0, 80)),
    st.tuples(st.just("deliver"), follow_up, st.integers(0, 200)),
    st.tuples(st.just("deliver"), follow_up, st.integers(0, 200)),
    st.tuples(st.just("return"), follow_up),
)


class History:
    """Turns intents into commands against what exists so far."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.now = datetime.now(UTC)
        self.orders: list[tuple[str, datetime]] = []
        self.shipments: dict[str, list[str]] = defaultdict(list)
        for priority, location_id in enumerate(LOCATIONS):
            with contextlib.suppress(LedgerError):
                execute(
                    ledger,
                    m.RegisterLocation(
                        location_id=location_id,
                        name=location_id.title(),
                        kind=LocationKind.WAREHOUSE,
                        priority=priority,
                    ),
                )

    def later(self, start: datetime, hours: int) -> datetime:
        return min(start + timedelta(hours=hours), datetime.now(UTC))

    def run(self, step: tuple[Any, ...]) -> None:
        with contextlib.suppress(LedgerError):
            self._run(step)

    def _run(self, step: tuple[Any, ...]) -> None:
        kind, *a = step
        L = self.ledger
        if kind == "receive":
            execute(L, m.ReceiveStock(sku=a[0], location_id=a[1], quantity=a[2]))
        elif kind == "policy":
            execute(
                L,
                m.SetStockPolicy(
                    sku=a[0],
                    location_id=a[1],
                    reorder_point=a[3],
                    reorder_quantity=5,
                    safety_stock=0,
                    allow_backorder=a[2],
                ),
            )
        elif kind == "adjust":
            execute(L, m.AdjustStock(sku=a[0], location_id=a[1], delta=a[2], reason=_reason(a[2])))
        elif kind == "place":
            lines, loc, promise, days_ago, channel = a
            placed = self.now - timedelta(days=days_ago, hours=3)
            result = execute(
                L,
                m.PlaceOrder(
                    channel=channel,
                    customer_id="c",
                    currency="GBP",
                    location_id=loc,
                    occurred_at=placed,
                    lines=tuple(m.OrderLine(sku=s, quantity=q, unit_price=Decimal(p) / 100) for s, q, p in lines),
                    promised_ship_by=placed + timedelta(hours=promise) if promise else None,
                    promised_delivery_by=placed + timedelta(hours=promise * 3) if promise else None,
                ),
            )
            self.orders.append((result.id, placed))
        elif self.orders:
            order_id, placed = self.orders[a[0] % len(self.orders)]
            if kind == "pay":
                execute(L, m.RecordPayment(order_id=order_id, kind=a[1], amount=Decimal(a[2]) / 100))
            elif kind == "cancel":
                lines = None if a[1] else (m.LineQuantity(sku=_first_line(L, order_id), quantity=1),)
                execute(L, m.CancelOrder(order_id=order_id, reason="r", lines=lines))
            elif kind == "ship":
                result = execute(L, m.ShipOrder(order_id=order_id, occurred_at=self.later(placed, a[1])))
                self.shipments[order_id].append(result.extra["shipment_id"])
            elif kind == "deliver" and self.shipments[order_id]:
                execute(
                    L,
                    m.DeliverShipment(
                        order_id=order_id, shipment_id=self.shipments[order_id][0], occurred_at=self.later(placed, a[1])
                    ),
                )
            elif kind == "return":
                order = L.repository.get(Order.id_for(order_id))
                shipped = [(s, line.shipped - line.return_requested) for s, line in order.lines.items()]
                s, left = max(shipped, key=lambda x: x[1])
                if left > 0:
                    done = execute(
                        L, m.RequestReturn(order_id=order_id, lines=(m.ReturnLine(sku=s, quantity=1, reason="r"),))
                    )
                    execute(
                        L,
                        m.ReceiveReturn(
                            order_id=order_id,
                            return_id=done.extra["return_id"],
                            location_id="north",
                            lines=(m.ReturnReceiptLine(sku=s, quantity=1, disposition=Disposition.RESTOCK),),
                        ),
                    )


def _reason(delta: int) -> AdjustmentReason:
    return AdjustmentReason.FOUND if delta > 0 else AdjustmentReason.SHRINKAGE


def _first_line(ledger: Ledger, order_id: str) -> str:
    order: Order = ledger.repository.get(Order.id_for(order_id))
    return sorted(order.lines)[0]


# --- the folds ---------------------------------------------------------------------

BUCKETS = ["available", "committed", "damaged", "quality_control", "safety_stock", "incoming"]


def fold_stock(history: list[tuple[int, Any]]) -> list[dict[str, Any]]:
    rows: dict[Any, dict[str, Any]] = {}
    for _, e in history:
        if isinstance(e, StockItem.Opened):
            rows[e.originator_id] = {
                "sku": e.sku,
                "location_id": e.location_id,
                **dict.fromkeys(BUCKETS, 0),
                "backorders": 0,
                "reorder_point": 0,
                "allow_backorder": False,
            }
        elif isinstance(e, StockItem.Movement):
            row = rows[e.originator_id]
            if e.from_bucket in BUCKETS:
                row[e.from_bucket] -= e.quantity
            if e.to_bucket in BUCKETS:
                row[e.to_bucket] += e.quantity
            row["backorders"] += getattr(e, "backordered", 0) * (1 if isinstance(e, StockItem.Committed) else -1)
        elif isinstance(e, StockItem.PolicySet):
            rows[e.originator_id].update(reorder_point=e.reorder_point, allow_backorder=e.allow_backorder)
    for row in rows.values():
        row["on_hand"] = sum(row[b] for b in BUCKETS if b != "incoming")
        row["low_stock"] = row["available"] <= row["reorder_point"]
    return sorted(rows.values(), key=lambda r: (r["sku"], r["location_id"]))


def fold_orders(history: list[tuple[int, Any]]) -> dict[str, dict[str, Any]]:
    orders: dict[Any, dict[str, Any]] = {}
    for _, e in history:
        if isinstance(e, Order.Placed):
            orders[e.originator_id] = {
                "order_id": e.order_id,
                "placed_at": e.occurred_at,
                "channel": e.channel,
                "ordered": {li.sku: li.quantity for li in e.lines},
                "price": {li.sku: li.unit_price for li in e.lines},
                "committed_at_placement": sum(a.committed for li in e.lines for a in li.allocations),
                "backordered_at_placement": sum(a.backordered for li in e.lines for a in li.allocations),
                "open_backordered": {li.sku: sum(a.backordered for a in li.allocations) for li in e.lines},
                "units": {"cancelled": 0, "shipped": 0, "delivered": 0, "return_requested": 0, "returned": 0},
                "shipments": {},
                "pay": defaultdict(Decimal),
                "cancelled_at": None,
                "delivered_at": None,
                "promised_ship_by": e.promised_ship_by,
                "promised_delivery_by": e.promised_delivery_by,
                "location_id": _primary(e),
                "cancelled_value": Decimal(0),
                "returned_value": Decimal(0),
            }
            continue
        if not isinstance(e, Order.Event):
            continue
        o = orders[e.originator_id]
        if isinstance(e, Order.Cancelled):
            o["units"]["cancelled"] += sum(li.quantity for li in e.lines)
            o["cancelled_value"] += sum(o["price"][li.sku] * li.quantity for li in e.lines)
        elif isinstance(e, Order.Shipped):
            o["units"]["shipped"] += sum(s.committed + s.backordered for s in e.lines)
            o["shipments"][e.shipment_id] = (e.occurred_at, sum(s.committed + s.backordered for s in e.lines))
        elif isinstance(e, Order.Delivered):
            o["units"]["delivered"] += o["shipments"][e.shipment_id][1]
        elif isinstance(e, Order.ReturnRequested):
            o["units"]["return_requested"] += sum(li.quantity for li in e.lines)
        elif isinstance(e, Order.ReturnReceived):
            o["units"]["returned"] += sum(li.quantity for li in e.lines)
            o["returned_value"] += sum(o["price"][li.sku] * li.quantity for li in e.lines)
        elif isinstance(e, Order.PaymentCaptured):
            o["pay"]["captured"] += e.amount
            o["pay"]["authorized"] += e.authorized
        else:
            key = {"PaymentAuthorized": "authorized", "PaymentVoided": "voided", "PaymentRefunded": "refunded"}
            o["pay"][key[type(e).__name__]] += e.amount
        status = _status(o)
        if status == "cancelled" and o["cancelled_at"] is None:
            o["cancelled_at"] = e.occurred_at
        if status in ("delivered", "completed") and o["delivered_at"] is None:
            o["delivered_at"] = e.occurred_at
    return {o["order_id"]: o for o in orders.values()}


def _primary(placed: Order.Placed) -> str:
    units: dict[str, int] = defaultdict(int)
    for line in placed.lines:
        for a in line.allocations:
            units[a.location_id] += a.committed + a.backordered
    return sorted(units, key=lambda k: (-units[k], k))[0]


def _total(o: dict[str, Any]) -> Decimal:
    return sum((o["price"][s] * q for s, q in o["ordered"].items()), Decimal(0)) - o["cancelled_value"]


def _pay_status(o: dict[str, Any], total: Decimal) -> str:
    """Captures are measured against what is owed: the total less what returns credited. With no
    payment, only an order with nothing to pay (and not cancelled) is paid."""
    p = o["pay"]
    if p["refunded"] > 0:
        return "refunded" if p["refunded"] >= p["captured"] else "partially_refunded"
    if p["captured"] > 0:
        return "paid" if p["captured"] >= total - o["returned_value"] else "partially_paid"
    if p["authorized"] - p["voided"] - p["captured"] > 0:
        return "authorized"
    if p["voided"] > 0:
        return "voided"
    cancelled = sum(o["ordered"].values()) == o["units"]["cancelled"]
    return "paid" if total == 0 and not cancelled else "unpaid"


def _status(o: dict[str, Any]) -> str:
    u = o["units"]
    active = sum(o["ordered"].values()) - u["cancelled"]
    if active == 0:
        return "cancelled"
    if u["delivered"] >= active:
        settled = _pay_status(o, _total(o)) in ("paid", "partially_refunded", "refunded")
        return "completed" if settled else "delivered"
    if u["delivered"]:
        return "partially_delivered"
    if u["shipped"] >= active:
        return "shipped"
    if u["shipped"]:
        return "partially_shipped"
    return "committed_or_backordered"


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(steps=st.lists(intent, min_size=10, max_size=60))
def test_read_models_equal_folds_of_the_events(pg_ledger: Ledger, pg_url: str, steps: list[tuple[Any, ...]]) -> None:
    history_runner = History(pg_ledger)
    for step in steps:
        history_runner.run(step)
    project_all(pg_url)
    history = events(pg_ledger)

    columns = ["sku", "location_id", *BUCKETS, "on_hand", "backorders", "reorder_point", "allow_backorder", "low_stock"]
    stock = [{c: r[c] for c in columns} for r in table(pg_url, "stock", "sku, location_id")]
    assert stock == fold_stock(history)
    totals = {r["sku"]: (r["available"], r["committed"], r["on_hand"]) for r in table(pg_url, "stock_totals", "sku")}
    expected_totals: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for r in fold_stock(history):
        for i, c in enumerate(("available", "committed", "on_hand")):
            expected_totals[r["sku"]][i] += r[c]
    assert totals == {k: tuple(v) for k, v in expected_totals.items()}

    audit = [
        (r["position"], r["stream_id"], r["version"], r["type"], r["actor"], r["occurred_at"])
        for r in table(pg_url, "audit_events", "position")
    ]
    assert audit == [
        (p, e.originator_id, e.originator_version, type(e).__qualname__, e.actor, e.occurred_at) for p, e in history
    ]

    expected_orders = fold_orders_with_status(history)
    read_orders = {r["order_id"]: r for r in table(pg_url, "orders", "order_id")}
    assert set(read_orders) == set(expected_orders)
    for order_id, o in expected_orders.items():
        row = read_orders[order_id]
        assert (row["units_shipped"], row["units_delivered"], row["units_cancelled"], row["units_returned"]) == (
            o["units"]["shipped"],
            o["units"]["delivered"],
            o["units"]["cancelled"],
            o["units"]["returned"],
        )
        assert (row["captured"], row["refunded"]) == (o["pay"]["captured"], o["pay"]["refunded"])
        if o["status"] != "committed_or_backordered":
            assert row["status"] == o["status"], (row, o)
        else:
            assert row["status"] in ("committed", "backordered", "partially_committed")
        assert row["payment_status"] == _pay_status(o, o["total"])
        assert (row["cancelled_at"], row["delivered_at"]) == (o["cancelled_at"], o["delivered_at"])
        assert row["first_shipped_at"] == min((s[0] for s in o["shipments"].values()), default=None)

    assert_kpis_match(pg_url, expected_orders)


def fold_orders_with_status(history: list[tuple[int, Any]]) -> dict[str, dict[str, Any]]:
    orders = fold_orders(history)
    for o in orders.values():
        o["total"] = _total(o)
        o["status"] = _status(o)
    return orders


def assert_kpis_match(url: str, orders: dict[str, dict[str, Any]]) -> None:
    expected: dict[tuple[Any, ...], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for o in orders.values():
        key = (o["placed_at"].astimezone(UTC).date(), o["channel"], o["location_id"])
        row = expected[key]
        row["orders_placed"] += 1
        row["units_ordered"] += sum(o["ordered"].values())
        row["units_committed_at_placement"] += o["committed_at_placement"]
        row["orders_backordered"] += int(o["backordered_at_placement"] > 0)
        row["orders_cancelled"] += int(o["status"] == "cancelled")
        row["units_shipped"] += o["units"]["shipped"]
        row["units_returned"] += o["units"]["returned"]
        if o["shipments"]:
            first = min(s[0] for s in o["shipments"].values())
            row["orders_shipped"] += 1
            row["ship_seconds_sum"] += max(0, int((first - o["placed_at"]).total_seconds()))
            if o["promised_ship_by"] is not None:
                row["shipped_with_promise"] += 1
                row["shipped_on_time"] += int(first <= o["promised_ship_by"])
        if o["status"] in ("delivered", "completed"):
            row["orders_delivered"] += 1
            row["delivery_seconds_sum"] += max(0, int((o["delivered_at"] - o["placed_at"]).total_seconds()))
            on_time = o["promised_delivery_by"] is None or o["delivered_at"] <= o["promised_delivery_by"]
            if o["promised_delivery_by"] is not None:
                row["delivered_with_promise"] += 1
                row["delivered_on_time"] += int(on_time)
            row["perfect_orders"] += int(
                on_time and o["units"]["cancelled"] == 0 and o["units"]["return_requested"] == 0
            )
    read = {(r["day"], r["channel"], r["location_id"]): r for r in table(url, "fulfillment_daily", "day")}
    assert set(read) == set(expected)
    for key, counters in expected.items():
        assert {c: read[key][c] for c in counters} == dict(counters), key
