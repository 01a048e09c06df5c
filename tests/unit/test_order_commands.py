"""The order commands through the Ledger, on the in-memory event store (``stocked``: two locations
holding A and B, from ``conftest.py``)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from commands import messages as m
from commands.ledger import Ledger
from domain.errors import (
    AlreadyExists,
    CaptureExceedsTotal,
    InsufficientStock,
    InvalidCommand,
    InvalidTransition,
    OrderNotFound,
    PaymentRejected,
    ReturnNotFound,
    ShipmentNotFound,
    UnknownLine,
    UnknownLocation,
)
from domain.payments import PaymentKind
from domain.stock import Disposition, StockItem
from tests.helpers import allow_backorder, execute, item, order, place, receive


def test_placing_an_order_commits_stock_in_the_same_transaction(stocked: Ledger) -> None:
    result = place(stocked, [("A", 3, "2.50"), ("B", 2, "4.00")], order_id="o1")
    assert (result.id, result.version, result.extra["status"]) == ("o1", 1, "committed")
    assert result.position is not None
    placed = order(stocked, "o1")
    assert placed.total == Decimal("15.50")
    assert item(stocked, "A", "main").committed == 3
    assert item(stocked, "B", "main").committed == 2


def test_an_order_id_is_generated_when_none_is_given(stocked: Ledger) -> None:
    result = place(stocked, [("A", 1)])
    assert order(stocked, result.id).order_id == result.id


def test_an_order_id_cannot_be_placed_twice(stocked: Ledger) -> None:
    place(stocked, [("A", 1)], order_id="o1")
    with pytest.raises(AlreadyExists):
        place(stocked, [("A", 1)], order_id="o1")


def test_insufficient_stock_fails_the_whole_order_and_writes_nothing(stocked: Ledger) -> None:
    before = stocked.recorder.max_notification_id()
    with pytest.raises(InsufficientStock) as caught:
        place(stocked, [("A", 1), ("B", 11), ("Z", 1)], order_id="o1")
    assert caught.value.skus == ["B", "Z"]
    assert stocked.recorder.max_notification_id() == before
    assert item(stocked, "A", "main").committed == 0


def test_what_cannot_be_committed_is_backordered_where_allowed(stocked: Ledger) -> None:
    allow_backorder(stocked, "A", "main")
    result = place(stocked, [("A", 12)], order_id="o1")
    assert result.extra["status"] == "partially_committed"
    line = order(stocked, "o1").lines["A"]
    assert (line.committed, line.backordered) == (10, 2)
    assert item(stocked, "A", "main").available == -2


def test_a_requested_location_is_the_only_one_used(stocked: Ledger) -> None:
    place(stocked, [("B", 3)], order_id="o1", location_id="store")
    assert item(stocked, "B", "store").committed == 3
    with pytest.raises(InsufficientStock):
        place(stocked, [("A", 1)], order_id="o2", location_id="store")
    with pytest.raises(UnknownLocation):
        place(stocked, [("A", 1)], order_id="o3", location_id="nowhere")


@pytest.mark.parametrize("lines", [[], [("A", 0)], [("A", 1), ("A", 2)], [("A", 1, "1.001")], [("A", 1, "-1")]])
def test_malformed_orders_are_refused(stocked: Ledger, lines: list[tuple[str, int, str]]) -> None:
    with pytest.raises(InvalidCommand):
        place(stocked, lines, order_id="bad")


def test_an_unknown_currency_is_refused(stocked: Ledger) -> None:
    with pytest.raises(InvalidCommand):
        place(stocked, [("A", 1)], currency="XYZ")


def test_payments_follow_the_payment_ledger(stocked: Ledger) -> None:
    place(stocked, [("A", 2, "5.00")], order_id="o1")
    pay = lambda kind, amount: execute(  # noqa: E731
        stocked,
        m.RecordPayment(order_id="o1", kind=kind, amount=Decimal(amount)),
    )
    assert pay(PaymentKind.AUTHORIZATION, "10.00").extra["payment_status"] == "authorized"
    assert pay(PaymentKind.CAPTURE, "10.00").extra["payment_status"] == "paid"
    with pytest.raises(PaymentRejected):
        pay(PaymentKind.REFUND, "10.01")
    assert pay(PaymentKind.REFUND, "4.00").extra["payment_status"] == "partially_refunded"
    with pytest.raises(InvalidCommand):
        pay(PaymentKind.CAPTURE, "0.001")
    with pytest.raises(OrderNotFound):
        execute(stocked, m.RecordPayment(order_id="nope", kind=PaymentKind.CAPTURE, amount=Decimal(1)))


def test_cancelling_the_whole_order_releases_every_committed_unit(stocked: Ledger) -> None:
    place(stocked, [("A", 3), ("B", 7)], order_id="o1")
    result = execute(stocked, m.CancelOrder(order_id="o1", reason="customer"))
    assert result.extra["status"] == "cancelled"
    assert (item(stocked, "A", "main").available, item(stocked, "B", "main").available) == (10, 5)
    assert item(stocked, "B", "store").available == 5
    with pytest.raises(InvalidTransition):
        execute(stocked, m.CancelOrder(order_id="o1", reason="again"))
    # Nothing shipped, so the cancelled order is worth nothing: no capture fits under its total.
    with pytest.raises(CaptureExceedsTotal):
        execute(stocked, m.RecordPayment(order_id="o1", kind=PaymentKind.CAPTURE, amount=Decimal(1)))


def test_cancelling_lines_releases_backorders_first(stocked: Ledger) -> None:
    allow_backorder(stocked, "A", "main")
    place(stocked, [("A", 12)], order_id="o1")
    execute(stocked, m.CancelOrder(order_id="o1", reason="short", lines=(m.LineQuantity(sku="A", quantity=3),)))
    line = order(stocked, "o1").lines["A"]
    assert (line.committed, line.backordered, line.cancelled) == (9, 0, 3)
    stock = item(stocked, "A", "main")
    assert (stock.available, stock.committed, stock.backorders) == (1, 9, 0)
    with pytest.raises(UnknownLine):
        execute(stocked, m.CancelOrder(order_id="o1", reason="x", lines=(m.LineQuantity(sku="Q", quantity=1),)))
    with pytest.raises(InvalidTransition):
        execute(stocked, m.CancelOrder(order_id="o1", reason="x", lines=(m.LineQuantity(sku="A", quantity=10),)))


def test_partial_shipments_and_deliveries_drive_the_status(stocked: Ledger) -> None:
    place(stocked, [("A", 4)], order_id="o1")
    first = execute(
        stocked,
        m.ShipOrder(
            order_id="o1",
            shipment_id="s1",
            lines=(m.LineQuantity(sku="A", quantity=1),),
            carrier="DHL",
            tracking_number="JD0001",
        ),
    )
    assert (first.extra["status"], first.extra["location_id"]) == ("partially_shipped", "main")
    assert execute(stocked, m.ShipOrder(order_id="o1", shipment_id="s2")).extra["status"] == "shipped"
    assert order(stocked, "o1").shipments["s1"].tracking_number == "JD0001"
    assert execute(stocked, m.DeliverShipment(order_id="o1", shipment_id="s1")).extra["status"] == (
        "partially_delivered"
    )
    assert execute(stocked, m.DeliverShipment(order_id="o1", shipment_id="s2")).extra["status"] == "delivered"
    execute(stocked, m.RecordPayment(order_id="o1", kind=PaymentKind.CAPTURE, amount=Decimal("4.00")))
    assert order(stocked, "o1").status == "completed"
    stock = item(stocked, "A", "main")
    assert (stock.committed, stock.on_hand, stock.balances["customer"]) == (0, 6, 4)


def test_shipping_rules(stocked: Ledger) -> None:
    place(stocked, [("A", 2)], order_id="o1")
    with pytest.raises(InvalidTransition):
        execute(stocked, m.ShipOrder(order_id="o1", shipment_id="s1", lines=(m.LineQuantity(sku="A", quantity=3),)))
    with pytest.raises(InvalidTransition):
        execute(stocked, m.ShipOrder(order_id="o1", shipment_id="s1", location_id="store"))
    execute(stocked, m.ShipOrder(order_id="o1", shipment_id="s1"))
    with pytest.raises(AlreadyExists):
        execute(stocked, m.ShipOrder(order_id="o1", shipment_id="s1"))
    with pytest.raises(InvalidTransition):
        execute(stocked, m.ShipOrder(order_id="o1", shipment_id="s2"))
    with pytest.raises(ShipmentNotFound):
        execute(stocked, m.DeliverShipment(order_id="o1", shipment_id="nope"))
    execute(stocked, m.DeliverShipment(order_id="o1", shipment_id="s1"))
    with pytest.raises(InvalidTransition):
        execute(stocked, m.DeliverShipment(order_id="o1", shipment_id="s1"))


def test_a_backordered_line_ships_once_stock_arrives(stocked: Ledger) -> None:
    allow_backorder(stocked, "A", "main")
    place(stocked, [("A", 10)], order_id="first")
    place(stocked, [("A", 2)], order_id="late")
    with pytest.raises(InsufficientStock):
        execute(stocked, m.ShipOrder(order_id="late", shipment_id="s1", lines=(m.LineQuantity(sku="A", quantity=2),)))
    receive(stocked, "A", "main", 2)
    execute(stocked, m.ShipOrder(order_id="late", shipment_id="s1", lines=(m.LineQuantity(sku="A", quantity=2),)))
    execute(stocked, m.ShipOrder(order_id="first", shipment_id="s2"))
    stock = item(stocked, "A", "main")
    assert (stock.available, stock.committed, stock.backorders) == (0, 0, 0)


def test_returns_are_requested_then_received_with_a_disposition(stocked: Ledger) -> None:
    place(stocked, [("A", 3)], order_id="o1")
    execute(stocked, m.ShipOrder(order_id="o1", shipment_id="s1"))
    with pytest.raises(InvalidTransition):
        execute(stocked, m.RequestReturn(order_id="o1", lines=(m.ReturnLine(sku="A", quantity=4, reason="x"),)))
    requested = execute(
        stocked,
        m.RequestReturn(order_id="o1", return_id="r1", lines=(m.ReturnLine(sku="A", quantity=2, reason="too big"),)),
    )
    assert requested.extra == {"return_id": "r1", "return_status": "return_requested", "return_state": "approved"}
    lines = (
        m.ReturnReceiptLine(sku="A", quantity=1, disposition=Disposition.RESTOCK),
        m.ReturnReceiptLine(sku="A", quantity=1, disposition=Disposition.DAMAGED),
    )
    with pytest.raises(UnknownLine):
        execute(
            stocked,
            m.ReceiveReturn(
                order_id="o1",
                return_id="r1",
                location_id="main",
                lines=(m.ReturnReceiptLine(sku="B", quantity=1, disposition=Disposition.RESTOCK),),
            ),
        )
    with pytest.raises(InvalidTransition):
        execute(stocked, m.ReceiveReturn(order_id="o1", return_id="r1", location_id="main", lines=(*lines, *lines)))
    receipt = execute(stocked, m.ReceiveReturn(order_id="o1", return_id="r1", location_id="main", lines=lines))
    assert receipt.extra["return_status"] == "returned"
    main = item(stocked, "A", "main")
    assert (main.available, main.balances["damaged"], main.balances["customer"]) == (8, 1, 1)


def test_a_return_receipt_restocks_at_the_receiving_location(stocked: Ledger) -> None:
    place(stocked, [("A", 3)], order_id="o1")
    execute(stocked, m.ShipOrder(order_id="o1", shipment_id="s1"))
    execute(
        stocked,
        m.RequestReturn(order_id="o1", return_id="r1", lines=(m.ReturnLine(sku="A", quantity=2, reason="too big"),)),
    )
    receipt = lambda qty, disposition, return_id="r1": execute(  # noqa: E731
        stocked,
        m.ReceiveReturn(
            order_id="o1",
            return_id=return_id,
            location_id="store",
            lines=(m.ReturnReceiptLine(sku="A", quantity=qty, disposition=disposition),),
        ),
    )
    assert receipt(1, Disposition.RESTOCK).extra["return_status"] == "partially_returned"
    assert receipt(1, Disposition.DAMAGED).extra["return_status"] == "returned"
    with pytest.raises(InvalidTransition):
        receipt(1, Disposition.RESTOCK)
    with pytest.raises(ReturnNotFound):
        receipt(1, Disposition.RESTOCK, "nope")
    store = item(stocked, "A", "store")
    assert (store.available, store.balances["damaged"], store.balances["customer"]) == (1, 1, -2)
    assert isinstance(store, StockItem)
