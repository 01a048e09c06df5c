"""Loads many aggregates in two queries, and keeps the idle ones in memory.

A command checks aggregates out and checks them back in when it is done, so a
cached aggregate is never shared by two commands and never copied. Whatever the
cache holds is fast-forwarded with the events recorded since, in the same query
that loads the rest, so writes by other processes are always seen.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.persistence import Mapper, StoredEvent

from commands.eventstore.batch import StoredResult, WriteBatch
from commands.seals import Rejected
from domain.base import LedgerAggregate


class EventStore(Protocol):
    """What the write side reads and writes: ``commands.eventstore.postgres`` and ``.memory``."""

    # Told of each stored row not used because its seal did not check (``commands.seals``).
    on_rejected: Callable[[Rejected], None]
    # Told of each batch whose connection was lost while saving: whether it had been saved.
    on_lost_connection: Callable[[bool], None]
    # Told of each batch saved: ``append`` (in one round trip) or ``under_lock`` (the head read first).
    on_written: Callable[[str], None]

    def write(self, batch: WriteBatch) -> list[int]: ...
    def replace_broken_connections(self) -> None: ...
    def changed_since(self, position: int | None) -> tuple[int, dict[UUID, int]]: ...
    def latest_snapshots(self, ids: Sequence[UUID]) -> list[StoredEvent]: ...
    def events_after(self, after: Mapping[UUID, int]) -> list[StoredEvent]: ...
    def load(
        self, snapshotted: Collection[UUID], after: Mapping[UUID, int]
    ) -> tuple[list[StoredEvent], list[StoredEvent]]: ...
    def as_of(self, stream_id: UUID, field: str, moment: datetime) -> tuple[StoredEvent | None, list[StoredEvent]]: ...
    def find_results(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], StoredResult]: ...


class AggregateLoader:
    def __init__(self, store: EventStore, mapper: Mapper[UUID], cache_size: int = 10_000) -> None:
        self.store = store
        self.mapper = mapper
        self.cache_size = cache_size
        self._idle: OrderedDict[UUID, LedgerAggregate] = OrderedDict()
        # Streams a load found empty (the hold rules before the first rule, a SKU never stocked
        # at a location), so that a trusted checkout needs no query for them either; kept
        # current exactly as the idle aggregates are (by ``sync``, and by ``checkin``).
        self._absent: OrderedDict[UUID, None] = OrderedDict()
        self._lock = threading.Lock()
        # The ledger position the idle aggregates are known to be current at, once synced.
        self._synced: int | None = None

    def sync(self) -> int:
        """Make every idle aggregate current, in one query: those another process has
        written since the last sync are dropped. Until a write by someone else, a
        ``trusted`` checkout then needs no query for what the cache holds. Returns the
        position synced at."""
        position, changed = self.store.changed_since(self._synced)
        with self._lock:
            if self._synced is None:
                self._idle.clear()
                self._absent.clear()
            else:
                for aggregate_id, version in changed.items():
                    self._absent.pop(aggregate_id, None)
                    idle = self._idle.get(aggregate_id)
                    if idle is not None and idle.version < version:
                        del self._idle[aggregate_id]
            self._synced = position
        return position

    def forget(self) -> None:
        """Drop every idle aggregate and the synced position: the next batch loads afresh."""
        with self._lock:
            self._idle.clear()
            self._absent.clear()
            self._synced = None

    @property
    def synced(self) -> int | None:
        """The ledger position the idle aggregates are current at (None: never synced)."""
        return self._synced

    def saved(self, positions: Sequence[int], head_before: int) -> None:
        """The writer saved events at these ledger positions, and its insert saw the ledger's
        last position before them, under the table lock, at ``head_before``. If that is the
        synced position, nobody else wrote in between, so the next sync need not read them back."""
        with self._lock:
            if positions and self._synced is not None and head_before == self._synced:
                self._synced = positions[-1]

    def checkout(self, ids: Collection[UUID], trusted: bool = False) -> dict[UUID, LedgerAggregate | None]:
        """The current state of each aggregate (None where the stream has no events).

        ``trusted``: right after ``sync``, by the one thread that writes, idle aggregates
        are current and are not fast-forwarded; a stale one makes the save conflict."""
        found: dict[UUID | str, Any] = {}
        absent: set[UUID] = set()
        with self._lock:
            for aggregate_id in ids:
                idle = self._idle.pop(aggregate_id, None)
                if idle is not None:
                    found[aggregate_id] = idle
                elif trusted and aggregate_id in self._absent:
                    absent.add(aggregate_id)
        if trusted and len(found) + len(absent) == len(ids):
            return {i: found.get(i) for i in ids}
        wanted = [i for i in ids if i not in absent]
        missing = [i for i in wanted if i not in found]
        # The snapshots of those not cached, and every stream's newer events, in one query.
        after = {i: (found[i].version if found.get(i) is not None else 0) for i in wanted}
        snapshots, events = self.store.load(set(missing), after)
        for stored in snapshots:
            found[stored.originator_id] = self.mapper.to_domain_event(stored).mutate(None)  # type: ignore[attr-defined]
        for stored in events:
            event = self.mapper.to_domain_event(stored)
            found[stored.originator_id] = event.mutate(found.get(stored.originator_id))  # type: ignore[attr-defined]
        with self._lock:
            for aggregate_id in ids:
                if found.get(aggregate_id) is None:
                    self._absent[aggregate_id] = None
                    self._absent.move_to_end(aggregate_id)
            while len(self._absent) > self.cache_size:
                self._absent.popitem(last=False)
        return {i: found.get(i) for i in ids}

    def checkin(self, aggregates: Iterable[LedgerAggregate]) -> None:
        """Return aggregates in a state that matches the store (no unsaved events)."""
        with self._lock:
            for aggregate in aggregates:
                if aggregate.pending_events:
                    continue
                self._absent.pop(aggregate.id, None)
                self._idle[aggregate.id] = aggregate
                self._idle.move_to_end(aggregate.id)
            while len(self._idle) > self.cache_size:
                self._idle.popitem(last=False)
