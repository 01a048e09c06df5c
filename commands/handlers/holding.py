"""Holding and letting go of stock for an order's units, shared by placing, edits and exchanges."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from uuid import UUID

from commands.unit_of_work import UnitOfWork
from domain.locations import LocationDirectory
from domain.meta import Meta
from domain.order_records import AddedLine, CancelledLine
from domain.sourcing import Allocation, Demand, Position, source
from domain.stock import StockItem


def candidates(uow: UnitOfWork, location_id: str | None) -> list[str]:
    """Where units may be held: the one location asked for, or every location by rank."""
    if location_id is not None:
        uow.require_location(location_id)
        return [location_id]
    directory = uow.directory()
    return [r.location_id for r in directory.ranked()] if directory else []


def plan(uow: UnitOfWork, demands: Sequence[Demand], location_id: str | None) -> dict[str, list[Allocation]]:
    """Where to hold the units, by the same sourcing (and the same no-oversell check) as placing."""
    ranked = candidates(uow, location_id)
    positions = {}
    for demand in demands:
        for loc in ranked:
            item = uow.stock_item(demand.sku, loc)
            if item is not None:
                positions[(demand.sku, loc)] = Position(item.available, item.allow_backorder)
    return source(demands, ranked, positions)


def commit(uow: UnitOfWork, order_id: str, added: Iterable[AddedLine], caused: Meta) -> None:
    for line in added:
        for allocation in line.allocations:
            # Sourcing allocates only where it was given a position, so the item exists.
            item = uow.existing_stock_item(line.sku, allocation.location_id)
            item.commit(order_id, allocation.committed, allocation.backordered, caused)


def release(uow: UnitOfWork, order_id: str, cancelled: Iterable[CancelledLine], reason: str, caused: Meta) -> None:
    for line in cancelled:
        for gone in line.releases:
            item = uow.existing_stock_item(line.sku, gone.location_id)
            item.release(order_id, gone.committed, gone.backordered, reason, caused)


def effects(added: Iterable[AddedLine] = (), cancelled: Iterable[CancelledLine] = ()) -> list[dict[str, object]]:
    """What an edit does to stock, per SKU and location: units held (+) and let go of (-)."""
    moves = [
        {"sku": line.sku, "location_id": a.location_id, "committed": a.committed, "backordered": a.backordered}
        for line in added
        for a in line.allocations
    ]
    moves += [
        {"sku": line.sku, "location_id": r.location_id, "committed": -r.committed, "backordered": -r.backordered}
        for line in cancelled
        for r in line.releases
    ]
    return moves


def stock_reads(skus: Iterable[str], locations: Sequence[str]) -> list[UUID]:
    return [StockItem.id_for(sku, loc) for sku in skus for loc in locations]


def ranked_in(directory: object) -> list[str]:
    return [r.location_id for r in directory.ranked()] if isinstance(directory, LocationDirectory) else []
