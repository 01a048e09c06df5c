"""Loads aggregates once per attempt and remembers every one a command touches."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TypeVar
from uuid import UUID

from commands.loader import AggregateLoader
from commands.personal_data import PersonalData
from domain.base import LedgerAggregate
from domain.errors import OrderNotFound, StockItemNotFound, UnknownLocation
from domain.locations import LocationDirectory
from domain.meta import Meta
from domain.orders import Order
from domain.stock import StockItem

A = TypeVar("A", bound=LedgerAggregate)


@dataclass
class UnitOfWork:
    loader: AggregateLoader
    personal_data: PersonalData
    _seen: dict[UUID, LedgerAggregate | None] = field(default_factory=dict)

    def prefetch(self, ids: Iterable[UUID]) -> None:
        """Load these aggregates together (two queries), ahead of ``get``."""
        wanted = [i for i in dict.fromkeys(ids) if i not in self._seen]
        if wanted:
            self._seen.update(self.loader.checkout(wanted))

    def get(self, cls: type[A], aggregate_id: UUID) -> A | None:
        self.prefetch([aggregate_id])
        found = self._seen[aggregate_id]
        if found is not None and not isinstance(found, cls):
            raise TypeError(f"stream {aggregate_id} holds a {type(found).__name__}, not a {cls.__name__}")
        return found

    def add(self, aggregate: A) -> A:
        self._seen[aggregate.id] = aggregate
        return aggregate

    def touched(self) -> list[LedgerAggregate]:
        return [a for a in self._seen.values() if a is not None]

    def changed(self) -> list[LedgerAggregate]:
        return [a for a in self._seen.values() if a is not None and a.pending_events]

    def directory(self) -> LocationDirectory | None:
        return self.get(LocationDirectory, LocationDirectory.ID)

    def require_location(self, location_id: str) -> None:
        directory = self.directory()
        if directory is None or not directory.contains(location_id):
            raise UnknownLocation(f"no location {location_id!r}; register it first")

    def stock_item(self, sku: str, location_id: str) -> StockItem | None:
        return self.get(StockItem, StockItem.id_for(sku, location_id))

    def existing_stock_item(self, sku: str, location_id: str) -> StockItem:
        item = self.stock_item(sku, location_id)
        if item is None:
            raise StockItemNotFound(f"no stock of {sku!r} has been recorded at {location_id!r}")
        return item

    def stock_item_or_open(self, sku: str, location_id: str, meta: Meta) -> StockItem:
        self.require_location(location_id)
        return self.stock_item(sku, location_id) or self.add(StockItem.open(sku, location_id, meta))

    def order(self, order_id: str) -> Order:
        order = self.get(Order, Order.id_for(order_id))
        if order is None:
            raise OrderNotFound(f"no order {order_id!r}")
        return order


def event_ref(aggregate: LedgerAggregate) -> str:
    """How a caused event names its cause: the stream and version of the last event."""
    return f"{aggregate.id}/{aggregate.version}"
