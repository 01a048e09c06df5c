from __future__ import annotations

import pytest

from domain.errors import InsufficientStock
from domain.sourcing import Allocation, Demand, Position, source

RANKED = ["north", "south", "east"]


def test_first_location_that_can_fill_the_whole_order_wins() -> None:
    positions = {
        ("A", "north"): Position(5, False),
        ("A", "south"): Position(5, False),
        ("B", "south"): Position(5, False),
    }
    plan = source([Demand("A", 2), Demand("B", 2)], RANKED, positions)
    assert plan == {"A": [Allocation("south", 2, 0)], "B": [Allocation("south", 2, 0)]}


def test_lines_go_where_their_stock_is_when_no_location_has_everything() -> None:
    positions = {("A", "north"): Position(5, False), ("B", "east"): Position(5, False)}
    plan = source([Demand("A", 2), Demand("B", 3)], RANKED, positions)
    assert plan == {"A": [Allocation("north", 2, 0)], "B": [Allocation("east", 3, 0)]}


def test_a_line_is_split_across_locations_in_rank_order() -> None:
    positions = {
        ("A", "north"): Position(2, False),
        ("A", "east"): Position(5, False),
        ("A", "south"): Position(1, False),
    }
    plan = source([Demand("A", 7)], RANKED, positions)
    assert plan == {"A": [Allocation("north", 2, 0), Allocation("south", 1, 0), Allocation("east", 4, 0)]}


def test_shortfall_is_backordered_at_the_first_location_that_allows_it() -> None:
    positions = {("A", "north"): Position(1, False), ("A", "south"): Position(-2, True)}
    plan = source([Demand("A", 4)], RANKED, positions)
    assert plan == {"A": [Allocation("north", 1, 0), Allocation("south", 0, 3)]}


def test_shortfall_without_backorders_names_every_short_sku() -> None:
    positions = {("A", "north"): Position(1, False), ("C", "north"): Position(9, False)}
    with pytest.raises(InsufficientStock) as caught:
        source([Demand("A", 2), Demand("B", 1), Demand("C", 1)], RANKED, positions)
    assert caught.value.skus == ["A", "B"]


def test_no_locations_means_nothing_can_be_committed() -> None:
    with pytest.raises(InsufficientStock):
        source([Demand("A", 1)], [], {})
