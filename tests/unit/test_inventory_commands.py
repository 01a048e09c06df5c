"""Location, stock and transfer commands through the Ledger, in memory."""

from __future__ import annotations

import pytest

from commands import messages as m
from commands.ledger import Ledger
from domain.buckets import Bucket
from domain.errors import (
    AlreadyExists,
    InsufficientStock,
    InvalidCommand,
    InvalidTransition,
    StockItemNotFound,
    TransferNotFound,
    UnknownLocation,
)
from domain.locations import LocationDirectory, LocationKind
from domain.stock import AdjustmentReason
from tests.helpers import execute, item, receive, register


def test_locations_are_registered_once_and_ranked_by_priority(ledger: Ledger) -> None:
    register(ledger, "b-store", priority=2, kind=LocationKind.STORE)
    register(ledger, "a-main", priority=2)
    register(ledger, "dc", priority=1, kind=LocationKind.DISTRIBUTION_CENTER)
    with pytest.raises(AlreadyExists):
        register(ledger, "dc", priority=5)
    directory: LocationDirectory = ledger.repository.get(LocationDirectory.ID)
    assert [r.location_id for r in directory.ranked()] == ["dc", "a-main", "b-store"]
    with pytest.raises(InvalidCommand):
        execute(ledger, m.RegisterLocation(location_id="x", name=" ", kind=LocationKind.STORE, priority=1))


def test_stock_cannot_be_received_at_an_unknown_location(ledger: Ledger) -> None:
    with pytest.raises(UnknownLocation):
        receive(ledger, "A", "nowhere", 1)


def test_a_receipt_answers_with_the_item_version_and_ledger_position(ledger: Ledger) -> None:
    register(ledger, "main")
    first = receive(ledger, "A", "main", 4)
    second = receive(ledger, "A", "main", 6)
    assert (first.id, first.version, second.version) == ("A/main", 2, 3)
    assert second.position is not None and first.position is not None and second.position > first.position
    assert item(ledger, "A", "main").available == 10


def test_adjustments_take_a_delta_or_a_count_but_not_both(ledger: Ledger) -> None:
    register(ledger, "main")
    receive(ledger, "A", "main", 10)
    adjust = lambda **kw: execute(ledger, m.AdjustStock(sku="A", location_id="main", **kw))  # noqa: E731
    adjust(delta=-2, reason=AdjustmentReason.SHRINKAGE)
    adjust(counted_quantity=5, reason=AdjustmentReason.CYCLE_COUNT)
    assert item(ledger, "A", "main").on_hand == 5
    with pytest.raises(InvalidCommand):
        adjust(delta=1, counted_quantity=1, reason=AdjustmentReason.CORRECTION)
    with pytest.raises(InvalidCommand):
        adjust(reason=AdjustmentReason.CORRECTION)


def test_moves_need_an_existing_item(ledger: Ledger) -> None:
    register(ledger, "main")
    with pytest.raises(StockItemNotFound):
        execute(
            ledger,
            m.MoveStock(
                sku="A", location_id="main", from_bucket=Bucket.AVAILABLE, to_bucket=Bucket.DAMAGED, quantity=1
            ),
        )
    receive(ledger, "A", "main", 3)
    execute(
        ledger,
        m.MoveStock(sku="A", location_id="main", from_bucket=Bucket.AVAILABLE, to_bucket=Bucket.DAMAGED, quantity=1),
    )
    assert item(ledger, "A", "main").balance(Bucket.DAMAGED) == 1


def test_policies_can_be_set_before_any_stock_arrives(ledger: Ledger) -> None:
    register(ledger, "main")
    execute(
        ledger,
        m.SetStockPolicy(
            sku="A", location_id="main", reorder_point=5, reorder_quantity=20, safety_stock=0, allow_backorder=True
        ),
    )
    stock = item(ledger, "A", "main")
    assert (stock.reorder_point, stock.reorder_quantity, stock.allow_backorder) == (5, 20, True)


def test_a_transfer_moves_stock_through_transit_and_is_received_in_parts(ledger: Ledger) -> None:
    register(ledger, "main")
    register(ledger, "store", priority=2)
    receive(ledger, "A", "main", 10)
    sent = execute(ledger, m.TransferStock(sku="A", from_location_id="main", to_location_id="store", quantity=6))
    assert item(ledger, "A", "main").available == 4
    assert item(ledger, "A", "store").balance(Bucket.INCOMING) == 6
    part = execute(ledger, m.ReceiveTransfer(transfer_id=sent.id, quantity=4))
    assert part.extra == {"received": 4, "outstanding": 2}
    rest = execute(ledger, m.ReceiveTransfer(transfer_id=sent.id))
    assert rest.extra == {"received": 2, "outstanding": 0}
    assert item(ledger, "A", "store").available == 6
    with pytest.raises(InvalidTransition):
        execute(ledger, m.ReceiveTransfer(transfer_id=sent.id))
    with pytest.raises(TransferNotFound):
        execute(ledger, m.ReceiveTransfer(transfer_id="nope"))


def test_transfer_rules(ledger: Ledger) -> None:
    register(ledger, "main")
    register(ledger, "store", priority=2)
    receive(ledger, "A", "main", 2)
    transfer = lambda **kw: execute(ledger, m.TransferStock(sku="A", **kw))  # noqa: E731
    with pytest.raises(InsufficientStock):
        transfer(from_location_id="main", to_location_id="store", quantity=3)
    with pytest.raises(UnknownLocation):
        transfer(from_location_id="main", to_location_id="nowhere", quantity=1)
    with pytest.raises(InvalidCommand):
        transfer(from_location_id="main", to_location_id="main", quantity=1)
    transfer(from_location_id="main", to_location_id="store", quantity=1, transfer_id="t1")
    with pytest.raises(AlreadyExists):
        transfer(from_location_id="main", to_location_id="store", quantity=1, transfer_id="t1")
