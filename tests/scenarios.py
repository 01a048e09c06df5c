"""A short day of trading that records every kind of event the domain has."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from commands import messages as m
from commands.contracts import CommandContext
from commands.ledger import Ledger
from domain.base import LedgerAggregate
from domain.buckets import Bucket
from domain.hold_rules import HoldRules
from domain.locations import Location, LocationDirectory, LocationKind
from domain.order_records import HoldKind, HoldRelease
from domain.orders import Order
from domain.payments import PaymentKind
from domain.stock import AdjustmentReason, Disposition, StockItem
from domain.transfers import Transfer
from tests.helpers import execute, pipeline_of

START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def event_classes() -> set[type[LedgerAggregate.Event]]:
    """Every concrete event class of the domain's aggregates."""
    found: set[type[LedgerAggregate.Event]] = set()
    for aggregate in (Order, StockItem, Location, LocationDirectory, Transfer, HoldRules):
        for value in vars(aggregate).values():
            abstract = value in (StockItem.Movement,) or getattr(value, "__name__", "") in ("Event", "Created")
            if isinstance(value, type) and issubclass(value, LedgerAggregate.Event) and not abstract:
                found.add(value)
    return found


def deterministic(ledger: Ledger) -> None:
    """The ledger's clock and generated ids, fixed: two runs store the same bytes."""
    clock: Iterator[datetime] = (START + timedelta(days=1, seconds=n) for n in itertools.count())
    ids = (f"id-{n}" for n in itertools.count())
    pipeline_of(ledger, clock=lambda: next(clock), new_id=lambda: next(ids))


def every_event(ledger: Ledger) -> None:
    minutes = itertools.count()

    def at() -> datetime:
        return START + timedelta(minutes=next(minutes))

    ctx = CommandContext(actor="scenario", correlation_id="corr-1")
    x: Callable[[m.Command], object] = lambda command: execute(ledger, command, ctx)  # noqa: E731
    x(m.RegisterLocation(location_id="WH1", name="Main", kind=LocationKind.WAREHOUSE, priority=1, occurred_at=at()))
    x(m.RegisterLocation(location_id="ST1", name="Shop", kind=LocationKind.STORE, priority=2, occurred_at=at()))
    x(m.ReceiveStock(sku="A", location_id="WH1", quantity=50, reference="PO-1", occurred_at=at()))
    x(m.ReceiveStock(sku="B", location_id="WH1", quantity=5, occurred_at=at()))
    x(m.SetStockPolicy(sku="C", location_id="WH1", reorder_point=2, reorder_quantity=10, safety_stock=1,
                       allow_backorder=True, occurred_at=at()))  # fmt: skip
    x(m.AdjustStock(sku="A", location_id="WH1", reason=AdjustmentReason.DAMAGED, delta=-2, occurred_at=at()))
    x(m.MoveStock(sku="A", location_id="WH1", from_bucket=Bucket.AVAILABLE, to_bucket=Bucket.QUALITY_CONTROL,
                  quantity=3, reason="inspect", occurred_at=at()))  # fmt: skip
    x(m.TransferStock(sku="A", from_location_id="WH1", to_location_id="ST1", quantity=10, transfer_id="T-1",
                      occurred_at=at()))  # fmt: skip
    x(m.ReceiveTransfer(transfer_id="T-1", quantity=8, occurred_at=at()))
    ship_to = {"name": "Ada Lovelace", "line1": "1 Analytical St", "city": "London", "country": "GB"}
    lines = (
        m.OrderLine(sku="A", quantity=4, unit_price=Decimal("2.50")),
        m.OrderLine(sku="B", quantity=3, unit_price=Decimal("10.00")),
        m.OrderLine(sku="C", quantity=2, unit_price=Decimal("0.99")),
    )
    x(m.PlaceOrder(order_id="O-1", channel="web", customer_id="cust-1", currency="GBP", lines=lines, ship_to=ship_to,
                   promised_ship_by=START + timedelta(days=2), occurred_at=at()))  # fmt: skip
    x(m.AddOrderNote(order_id="O-1", text="Gift wrap, please.", occurred_at=at()))
    x(m.RecordPayment(order_id="O-1", kind=PaymentKind.AUTHORIZATION, amount=Decimal("41.98"), occurred_at=at()))
    x(m.RecordPayment(order_id="O-1", kind=PaymentKind.CAPTURE, amount=Decimal("30.00"), occurred_at=at()))
    x(m.CancelOrder(order_id="O-1", reason="customer asked", lines=(m.LineQuantity(sku="C", quantity=1),),
                    occurred_at=at()))  # fmt: skip
    x(m.ShipOrder(order_id="O-1", shipment_id="S-1", location_id="WH1", carrier="DHL", tracking_number="TRK1",
                  occurred_at=at()))  # fmt: skip
    x(m.DeliverShipment(order_id="O-1", shipment_id="S-1", occurred_at=at()))
    x(m.RequestReturn(order_id="O-1", return_id="R-1", lines=(m.ReturnLine(sku="A", quantity=2, reason="too big"),),
                      occurred_at=at()))  # fmt: skip
    x(m.ReceiveReturn(order_id="O-1", return_id="R-1", location_id="WH1", occurred_at=at(), lines=(
        m.ReturnReceiptLine(sku="A", quantity=1, disposition=Disposition.RESTOCK),
        m.ReturnReceiptLine(sku="A", quantity=1, disposition=Disposition.DAMAGED),
    )))  # fmt: skip
    x(m.RecordPayment(order_id="O-1", kind=PaymentKind.REFUND, amount=Decimal("5.00"), occurred_at=at()))
    x(m.RecordPayment(order_id="O-1", kind=PaymentKind.VOID, amount=Decimal("10.00"), occurred_at=at()))
    desk(x, at)


def desk(x: Callable[[m.Command], object], at: Callable[[], datetime]) -> None:
    """The order desk: a hold rule, holds, edits, and a reviewed exchange."""
    x(m.SetHoldRule(rule_id="big", kind=HoldKind.FRAUD, reason="review big orders", above=Decimal("100.00"),
                    currency="GBP", release=HoldRelease.PAID, occurred_at=at()))  # fmt: skip
    x(m.SetHoldRule(rule_id="old", kind=HoldKind.MANUAL, reason="unused", channel="fax", occurred_at=at()))
    x(m.RemoveHoldRule(rule_id="old", occurred_at=at()))
    lines = (m.OrderLine(sku="A", quantity=30, unit_price=Decimal("5.00")),)
    x(m.PlaceOrder(order_id="O-2", channel="web", customer_id="cust-2", currency="GBP", lines=lines,
                   ship_to={"name": "Grace Hopper", "email": "grace@example.com"}, occurred_at=at()))  # fmt: skip
    x(m.PlaceHold(order_id="O-2", hold_id="H-1", kind=HoldKind.ADDRESS, reason="check the flat number",
                  occurred_at=at()))  # fmt: skip
    x(m.ChangeShipTo(order_id="O-2", ship_to={"name": "Grace Hopper", "line1": "Flat 2"}, reason="customer called",
                     occurred_at=at()))  # fmt: skip
    x(m.ReleaseHold(order_id="O-2", hold_id="H-1", reason="address confirmed", occurred_at=at()))
    x(m.ChangePromisedDates(order_id="O-2", promised_ship_by=START + timedelta(days=3), reason="late stock",
                            occurred_at=at()))  # fmt: skip
    x(m.AddOrderLine(order_id="O-2", line=m.OrderLine(sku="B", quantity=1, unit_price=Decimal("10.00")),
                     reason="added by phone", occurred_at=at()))  # fmt: skip
    x(m.ChangeLineQuantity(order_id="O-2", sku="A", quantity=20, reason="fewer", occurred_at=at()))
    x(m.AddOrderLine(order_id="O-2", line=m.OrderLine(sku="C", quantity=1, unit_price=Decimal("0.99")),
                     reason="added by phone", occurred_at=at()))  # fmt: skip
    x(m.RemoveOrderLine(order_id="O-2", sku="C", reason="never mind", occurred_at=at()))
    x(m.RecordPayment(order_id="O-2", kind=PaymentKind.CAPTURE, amount=Decimal("110.00"), occurred_at=at()))
    x(m.ShipOrder(order_id="O-2", shipment_id="S-2", location_id="WH1", occurred_at=at()))
    x(m.RequestReturn(order_id="O-2", return_id="R-2", approve=False, occurred_at=at(),
                      lines=(m.ReturnLine(sku="A", quantity=1, reason="wrong colour"),),
                      replacements=(m.OrderLine(sku="A", quantity=1, unit_price=Decimal("5.00")),)))  # fmt: skip
    x(m.ApproveReturn(order_id="O-2", return_id="R-2", occurred_at=at()))
    x(m.RequestReturn(order_id="O-2", return_id="R-3", approve=False, occurred_at=at(),
                      lines=(m.ReturnLine(sku="B", quantity=1, reason="changed mind"),)))  # fmt: skip
    x(m.DeclineReturn(order_id="O-2", return_id="R-3", reason="past the return window", occurred_at=at()))
