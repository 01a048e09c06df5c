"""Loads many aggregates in two queries, and keeps the idle ones in memory.

A command checks aggregates out and checks them back in when it is done, so a
cached aggregate is never shared by two commands and never copied. Whatever the
cache holds is fast-forwarded with the events recorded since, in the same query
that loads the rest, so writes by other processes are always seen.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Collection, Iterable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import AggregateRecorder, Mapper

from commands.store import MemoryLedgerRecorder, PostgresLedgerRecorder
from domain.base import LedgerAggregate


class AggregateLoader:
    def __init__(
        self,
        recorder: PostgresLedgerRecorder | MemoryLedgerRecorder,
        snapshots: AggregateRecorder | None,
        mapper: Mapper[UUID],
        cache_size: int = 10_000,
    ) -> None:
        self.recorder = recorder
        self.snapshots = snapshots
        self.mapper = mapper
        self.cache_size = cache_size
        self._idle: OrderedDict[UUID, LedgerAggregate] = OrderedDict()
        self._lock = threading.Lock()
        # The ledger position the idle aggregates are known to be current at, once synced.
        self._synced: int | None = None

    def sync(self) -> int:
        """Make every idle aggregate current, in one query: those another process has
        written since the last sync are dropped. Until a write by someone else, a
        ``trusted`` checkout then needs no query for what the cache holds. Returns the
        position synced at."""
        position, changed = self.recorder.changed_since(self._synced)
        with self._lock:
            if self._synced is None:
                self._idle.clear()
            else:
                for aggregate_id, version in changed.items():
                    idle = self._idle.get(aggregate_id)
                    if idle is not None and idle.version < version:
                        del self._idle[aggregate_id]
            self._synced = position
        return position

    def forget(self) -> None:
        """Drop every idle aggregate and the synced position: the next batch loads afresh."""
        with self._lock:
            self._idle.clear()
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
        found: dict[UUID, Any] = {}
        with self._lock:
            for aggregate_id in ids:
                idle = self._idle.pop(aggregate_id, None)
                if idle is not None:
                    found[aggregate_id] = idle
        if trusted and len(found) == len(ids):
            return found
        missing = [i for i in ids if i not in found]
        if missing and self.snapshots is not None:
            for stored in self._latest_snapshots(missing):
                found[stored.originator_id] = self.mapper.to_domain_event(stored).mutate(None)  # type: ignore[attr-defined]
        after = {i: (found[i].version if found.get(i) is not None else 0) for i in ids}
        for stored in self._events_after(after):
            event = self.mapper.to_domain_event(stored)
            found[stored.originator_id] = event.mutate(found.get(stored.originator_id))  # type: ignore[attr-defined]
        return {i: found.get(i) for i in ids}

    def checkin(self, aggregates: Iterable[LedgerAggregate]) -> None:
        """Return aggregates in a state that matches the store (no unsaved events)."""
        with self._lock:
            for aggregate in aggregates:
                if aggregate.pending_events:
                    continue
                self._idle[aggregate.id] = aggregate
                self._idle.move_to_end(aggregate.id)
            while len(self._idle) > self.cache_size:
                self._idle.popitem(last=False)

    def _latest_snapshots(self, ids: list[UUID]) -> list[Any]:
        if isinstance(self.recorder, PostgresLedgerRecorder):
            table = getattr(self.snapshots, "events_table_name", "")
            return self.recorder.select_latest(table, ids)
        assert self.snapshots is not None
        latest = (self.snapshots.select_events(i, desc=True, limit=1) for i in ids)
        return [rows[0] for rows in latest if rows]

    def _events_after(self, after: dict[UUID, int]) -> list[Any]:
        if isinstance(self.recorder, PostgresLedgerRecorder):
            return self.recorder.select_after(after)
        return [e for i, version in after.items() for e in self.recorder.select_events(i, gt=version)]
