"""The aggregates a batch decides on, loaded in the prefetch, and every one a command touches.

Deciding does no I/O: ``get`` answers from what the prefetch loaded (or knew to be absent), and
raises ``Unprefetched`` for a stream nobody named, so that the pipeline loads it between two
tries of the command instead of a query slipping into the decision.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TypeVar
from uuid import UUID

from commands.loader import AggregateLoader
from commands.personal_data import Sealer
from domain.base import LedgerAggregate
from domain.errors import OrderNotFound, StockItemNotFound, UnknownLocation
from domain.locations import LocationDirectory
from domain.meta import Meta
from domain.orders import Order
from domain.payments import MoneyPolicy
from domain.stock import StockItem

A = TypeVar("A", bound=LedgerAggregate)


class _Absent:
    """Not loaded before the current command began, or holding nothing unsaved: forgotten on rollback."""


class _Rebuild:
    """Holding an earlier command's unsaved events: rebuilt on rollback from the store and those events."""


ABSENT, REBUILD = _Absent(), _Rebuild()


class Unprefetched(Exception):
    """A command asked for a stream the prefetch did not load: the pipeline loads it and decides
    the command again."""

    def __init__(self, stream: UUID) -> None:
        super().__init__(f"stream {stream} was not prefetched")
        self.stream = stream


@dataclass
class UnitOfWork:
    loader: AggregateLoader
    sealer: Sealer
    # After the loader's sync, in the one writer thread: cached aggregates need no query.
    trusted: bool = False
    money: MoneyPolicy = field(default_factory=MoneyPolicy)
    _seen: dict[UUID, LedgerAggregate | None] = field(default_factory=dict)
    # Savepoint of the current command, when several commands share this unit of work:
    # each aggregate's state before the command touched it, and its pending-event count then.
    _undo: dict[UUID, _Absent | _Rebuild | None] | None = None
    _marks: dict[UUID, int] = field(default_factory=dict)

    def prefetch(self, ids: Iterable[UUID]) -> list[UUID]:
        """Load these aggregates together (two queries) before deciding; the ones newly loaded."""
        wanted = [i for i in dict.fromkeys(ids) if i not in self._seen]
        if wanted:
            self._seen.update(self.loader.checkout(wanted, self.trusted))
        return wanted

    def peek(self, aggregate_id: UUID) -> LedgerAggregate | None:
        """What the prefetch has loaded so far under this id (None: nothing, or not loaded)."""
        return self._seen.get(aggregate_id)

    def known_absent(self, ids: Iterable[UUID]) -> None:
        """Streams that surely hold no events yet: they are not looked for."""
        for aggregate_id in ids:
            self._seen.setdefault(aggregate_id, None)

    def get(self, cls: type[A], aggregate_id: UUID) -> A | None:
        # Handlers ask for the same few aggregates many times per command: no list for those.
        found = self._seen.get(aggregate_id, ABSENT)
        if found is ABSENT:
            raise Unprefetched(aggregate_id)
        if self._undo is not None and aggregate_id not in self._undo:
            self._remember(aggregate_id)
        if found is not None and not isinstance(found, cls):
            raise TypeError(f"stream {aggregate_id} holds a {type(found).__name__}, not a {cls.__name__}")
        return found

    def add(self, aggregate: A) -> A:
        self._remember(aggregate.id)
        self._seen[aggregate.id] = aggregate
        return aggregate

    # --- several commands in one unit of work ---------------------------------

    def begin(self) -> None:
        """Start a command that can be undone alone, leaving the earlier ones' changes."""
        self._undo, self._marks = {}, {}

    def rollback(self) -> None:
        """Put back what the current command changed. An aggregate it read without changing (no
        event added) stays as it is: forgetting it would make the command, decided again after a
        prefetch miss, miss it again. One it changed may be half-changed: forgotten, or rebuilt
        from the store when earlier commands of the batch changed it too."""
        for aggregate_id, before in (self._undo or {}).items():
            now = self._seen.get(aggregate_id)
            if isinstance(now, LedgerAggregate) and len(now.pending_events) == self._marks.get(aggregate_id, 0):
                continue
            if isinstance(before, _Absent):
                self._seen.pop(aggregate_id, None)
            elif isinstance(before, _Rebuild):
                self._seen[aggregate_id] = self._rebuild(aggregate_id)
            else:
                self._seen[aggregate_id] = before
        self._undo, self._marks = None, {}

    def _rebuild(self, aggregate_id: UUID) -> LedgerAggregate | None:
        """The aggregate as the earlier commands of the batch left it: its stored state with their
        events applied again. Rollbacks are rare; this keeps the usual path free of copies."""
        changed = self._seen[aggregate_id]
        earlier = changed.pending_events[: self._marks[aggregate_id]] if changed is not None else []
        aggregate = self.loader.checkout([aggregate_id])[aggregate_id]
        for event in earlier:
            aggregate = event.mutate(aggregate)
        if aggregate is not None:
            aggregate._pending_events = list(earlier)  # still to be saved with the batch
        return aggregate

    def command_events(self) -> list[LedgerAggregate.Event]:
        """The events the current command added, in the order it first touched each aggregate."""
        events: list[LedgerAggregate.Event] = []
        for aggregate_id in self._undo or {}:
            aggregate = self._seen.get(aggregate_id)
            if aggregate is not None:
                events.extend(aggregate.pending_events[self._marks.get(aggregate_id, 0) :])  # type: ignore[arg-type]
        return events

    def version_before(self, aggregate: LedgerAggregate) -> int:
        """The aggregate's version before the current command (or before the unit of work, if none)."""
        mark = self._marks.get(aggregate.id, 0) if self._undo is not None else 0
        return aggregate.version - len(aggregate.pending_events) + mark

    def _remember(self, aggregate_id: UUID) -> None:
        if self._undo is None or aggregate_id in self._undo:
            return
        before = self._seen.get(aggregate_id, ABSENT)
        if isinstance(before, LedgerAggregate):
            self._marks[aggregate_id] = len(before.pending_events)
            self._undo[aggregate_id] = REBUILD if before.pending_events else ABSENT
        else:
            self._undo[aggregate_id] = before

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
