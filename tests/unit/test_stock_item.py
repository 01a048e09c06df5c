"""StockItem rules, without I/O."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.buckets import ALL, Bucket
from domain.errors import InsufficientStock, InvalidCommand, InvalidTransition
from domain.meta import Meta
from domain.stock import AdjustmentReason, Disposition, StockItem

META = Meta.at(datetime(2026, 1, 1, tzinfo=UTC))


def stocked(quantity: int = 10) -> StockItem:
    item = StockItem.open("SKU-1", "main", META)
    item.receive(quantity, "PO-1", META)
    return item


def assert_balanced(item: StockItem) -> None:
    assert sum(item.balances[b.value] for b in ALL) == 0


def test_receipt_moves_units_from_supplier_to_available() -> None:
    item = stocked(10)
    assert item.available == 10
    assert item.balance(Bucket.SUPPLIER) == -10
    assert item.on_hand == 10
    assert_balanced(item)


@pytest.mark.parametrize("quantity", [0, -1, True])
def test_receipt_needs_a_positive_integer(quantity: int) -> None:
    with pytest.raises(InvalidCommand):
        stocked().receive(quantity, None, META)


def test_commit_without_stock_is_refused_where_backorders_are_off() -> None:
    item = stocked(2)
    with pytest.raises(InsufficientStock) as caught:
        item.commit("o1", 2, 1, META)
    assert caught.value.skus == ["SKU-1"]
    with pytest.raises(InsufficientStock):
        item.commit("o1", 3, 0, META)


def test_backorder_takes_available_below_zero_and_keeps_on_hand_physical() -> None:
    item = stocked(2)
    item.set_policy(0, 0, 0, True, META)
    item.commit("o1", 2, 3, META)
    assert (item.available, item.committed, item.on_hand, item.backorders) == (-3, 5, 2, 3)
    assert_balanced(item)


def test_backordered_units_ship_only_once_stock_covers_them() -> None:
    item = stocked(2)
    item.set_policy(0, 0, 0, True, META)
    item.commit("held", 2, 0, META)
    item.commit("waiting", 0, 2, META)
    with pytest.raises(InsufficientStock):
        item.ship("waiting", "s1", 0, 1, META)
    item.receive(2, None, META)
    item.ship("waiting", "s1", 0, 2, META)
    item.ship("held", "s2", 2, 0, META)
    assert (item.available, item.committed, item.backorders, item.on_hand) == (0, 0, 0, 0)
    assert_balanced(item)


def test_shipping_more_than_committed_is_an_invalid_transition() -> None:
    item = stocked(5)
    item.commit("o1", 2, 0, META)
    with pytest.raises(InvalidTransition):
        item.ship("o1", "s1", 3, 0, META)


def test_release_returns_committed_units_to_available() -> None:
    item = stocked(5)
    item.commit("o1", 4, 0, META)
    item.release("o1", 3, 0, "cancelled", META)
    assert (item.available, item.committed) == (4, 1)
    with pytest.raises(InvalidTransition):
        item.release("o1", 2, 0, "cancelled", META)


def test_negative_adjustment_cannot_take_available_below_zero() -> None:
    item = stocked(3)
    with pytest.raises(InsufficientStock):
        item.adjust(-4, AdjustmentReason.SHRINKAGE, META)
    item.adjust(-3, AdjustmentReason.SHRINKAGE, META)
    assert item.balance(Bucket.SHRINKAGE) == 3
    assert_balanced(item)


def test_damaged_adjustment_moves_units_to_the_damaged_bucket() -> None:
    item = stocked(3)
    item.adjust(-1, AdjustmentReason.DAMAGED, META)
    assert (item.available, item.balance(Bucket.DAMAGED), item.on_hand) == (2, 1, 3)
    with pytest.raises(InvalidCommand):
        item.adjust(1, AdjustmentReason.DAMAGED, META)


def test_found_units_come_from_shrinkage() -> None:
    item = stocked(3)
    item.adjust(2, AdjustmentReason.FOUND, META)
    assert (item.available, item.balance(Bucket.SHRINKAGE)) == (5, -2)
    with pytest.raises(InvalidCommand):
        item.adjust(0, AdjustmentReason.FOUND, META)
    with pytest.raises(InvalidCommand):
        item.adjust(1, AdjustmentReason.SHRINKAGE, META)


def test_count_adjusts_on_hand_to_the_counted_quantity() -> None:
    item = stocked(10)
    item.commit("o1", 4, 0, META)
    item.count(8, AdjustmentReason.CYCLE_COUNT, META)
    assert (item.on_hand, item.available, item.committed) == (8, 4, 4)
    item.count(8, AdjustmentReason.CYCLE_COUNT, META)
    last = item.pending_events[-1]
    assert isinstance(last, StockItem.Adjusted)
    assert (last.quantity, last.counted_quantity) == (0, 8)
    with pytest.raises(InsufficientStock):
        item.count(3, AdjustmentReason.CYCLE_COUNT, META)


def test_moves_between_inside_buckets_only() -> None:
    item = stocked(5)
    item.move(Bucket.AVAILABLE, Bucket.QUALITY_CONTROL, 2, "inspection", META)
    assert (item.available, item.balance(Bucket.QUALITY_CONTROL), item.on_hand) == (3, 2, 5)
    with pytest.raises(InvalidCommand):
        item.move(Bucket.AVAILABLE, Bucket.COMMITTED, 1, None, META)
    with pytest.raises(InvalidCommand):
        item.move(Bucket.AVAILABLE, Bucket.AVAILABLE, 1, None, META)
    with pytest.raises(InsufficientStock):
        item.move(Bucket.QUALITY_CONTROL, Bucket.AVAILABLE, 3, None, META)


def test_safety_stock_policy_reserves_what_is_available() -> None:
    item = stocked(5)
    item.set_policy(2, 10, 3, False, META)
    assert (item.available, item.balance(Bucket.SAFETY_STOCK)) == (2, 3)
    item.set_policy(2, 10, 1, False, META)
    assert (item.available, item.balance(Bucket.SAFETY_STOCK)) == (4, 1)
    item.set_policy(2, 10, 50, False, META)
    assert (item.available, item.balance(Bucket.SAFETY_STOCK)) == (0, 5)
    with pytest.raises(InvalidCommand):
        item.set_policy(-1, 0, 0, False, META)


def test_restock_puts_returned_units_back_or_into_damaged() -> None:
    item = stocked(5)
    item.commit("o1", 2, 0, META)
    item.ship("o1", "s1", 2, 0, META)
    item.restock("o1", "r1", 1, Disposition.RESTOCK, META)
    item.restock("o1", "r1", 1, Disposition.DAMAGED, META)
    assert (item.available, item.balance(Bucket.DAMAGED), item.balance(Bucket.CUSTOMER)) == (4, 1, 0)
    assert_balanced(item)


def test_transfers_pass_through_transit_and_incoming() -> None:
    source, target = stocked(5), StockItem.open("SKU-1", "store", META)
    source.transfer_out("t1", 3, META)
    target.expect_transfer("t1", 3, META)
    assert (source.available, source.balance(Bucket.TRANSIT)) == (2, 3)
    assert (target.balance(Bucket.INCOMING), target.balance(Bucket.TRANSIT)) == (3, -3)
    target.transfer_in("t1", 3, META)
    assert (target.available, target.balance(Bucket.INCOMING)) == (3, 0)
    assert source.balance(Bucket.TRANSIT) + target.balance(Bucket.TRANSIT) == 0
    with pytest.raises(InsufficientStock):
        target.transfer_in("t1", 1, META)
