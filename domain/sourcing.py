"""Sourcing: which location commits how much of each order line. A pure function."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from domain.errors import InsufficientStock


@dataclass(frozen=True, slots=True)
class Position:
    """What sourcing needs to know of one SKU at one location."""

    available: int
    allow_backorder: bool


@dataclass(frozen=True, slots=True)
class Allocation:
    location_id: str
    committed: int
    backordered: int


@dataclass(frozen=True, slots=True)
class Demand:
    sku: str
    quantity: int


def source(
    lines: Sequence[Demand],
    ranked_locations: Sequence[str],
    positions: Mapping[tuple[str, str], Position],
) -> dict[str, list[Allocation]]:
    """Allocate every line, or raise ``InsufficientStock`` naming the short SKUs.

    1. The first location (in the given rank order) that can commit every line whole.
    2. Else line by line: the first location that can commit the line whole, else
       whatever each location has, in rank order.
    3. What is still short is backordered at the first location whose item allows
       backorders; if none does, the SKU is short and nothing is allocated.

    A caller that asks for one location passes only that location.
    """

    def free(sku: str, location_id: str) -> int:
        position = positions.get((sku, location_id))
        return max(position.available, 0) if position else 0

    for location_id in ranked_locations:
        if all(free(line.sku, location_id) >= line.quantity for line in lines):
            return {line.sku: [Allocation(location_id, line.quantity, 0)] for line in lines}

    plan: dict[str, list[Allocation]] = {}
    short: list[str] = []
    for line in lines:
        allocations = _allocate_line(line, ranked_locations, free, positions)
        if allocations is None:
            short.append(line.sku)
        else:
            plan[line.sku] = allocations
    if short:
        raise InsufficientStock("not enough stock, and no backorders allowed, for: " + ", ".join(sorted(short)), short)
    return plan


def _allocate_line(
    line: Demand,
    ranked_locations: Sequence[str],
    free: Callable[[str, str], int],
    positions: Mapping[tuple[str, str], Position],
) -> list[Allocation] | None:
    whole = next((loc for loc in ranked_locations if free(line.sku, loc) >= line.quantity), None)
    if whole is not None:
        return [Allocation(whole, line.quantity, 0)]
    committed: dict[str, int] = {}
    remaining = line.quantity
    for location_id in ranked_locations:
        take = min(free(line.sku, location_id), remaining)
        if take > 0:
            committed[location_id] = take
            remaining -= take
    backorder_at = None
    if remaining:
        backorder_at = next(
            (
                loc
                for loc in ranked_locations
                if (position := positions.get((line.sku, loc))) is not None and position.allow_backorder
            ),
            None,
        )
        if backorder_at is None:
            return None
    allocations = []
    for location_id in ranked_locations:
        backordered = remaining if location_id == backorder_at else 0
        quantity = committed.get(location_id, 0)
        if quantity or backordered:
            allocations.append(Allocation(location_id, quantity, backordered))
    return allocations
