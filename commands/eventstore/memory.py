"""The event store's contract in memory, on the library's in-memory recorders, for unit tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from uuid import UUID

from eventsourcing.persistence import AggregateRecorder, ApplicationRecorder, IntegrityError, StoredEvent

from commands.eventstore.batch import EventTime, StoredResult, WriteBatch
from commands.seals import Rejected


class MemoryEventStore:
    def __init__(self, recorder: ApplicationRecorder, snapshots: AggregateRecorder | None) -> None:
        self.recorder = recorder
        self.snapshots = snapshots
        self._lock = threading.Lock()  # one batch at a time, as the table lock does
        self._results: dict[tuple[str, str], StoredResult] = {}
        self._times: dict[UUID, list[EventTime]] = {}
        # Rows in memory are not sealed: nothing is ever rejected here.
        self.on_rejected: Callable[[Rejected], None] = lambda _: None
        self.on_lost_connection: Callable[[bool], None] = lambda _: None
        self.on_written: Callable[[str], None] = lambda _: None

    def write(self, batch: WriteBatch) -> list[int]:
        if not batch.events:
            return []
        with self._lock:
            if batch.head is not None:
                batch.head.see(self.recorder.max_notification_id() or 0)
            keys = [(r.scope, r.key) for r in batch.idempotency]
            if len(set(keys)) != len(keys) or any(k in self._results for k in keys):
                raise IntegrityError("an idempotency key is already recorded")
            positions = list(self.recorder.insert_events(batch.events) or ())
            for time in batch.times:
                self._times.setdefault(time.stream, []).append(time)
            for record in batch.idempotency:
                result = json.loads(json.dumps(record.stored(positions)))
                self._results[(record.scope, record.key)] = StoredResult(record.request_hash, result)
        if batch.snapshots and self.snapshots is not None:
            self.snapshots.insert_events(batch.snapshots)
        return positions

    def replace_broken_connections(self) -> None:
        """Nothing to replace in memory."""

    def changed_since(self, position: int | None) -> tuple[int, dict[UUID, int]]:
        notifications = self.recorder.select_notifications(start=(position or 0) + 1, limit=10**9)
        changed: dict[UUID, int] = {}
        for n in notifications:
            stream = n.originator_id if isinstance(n.originator_id, UUID) else UUID(str(n.originator_id))
            changed[stream] = max(changed.get(stream, 0), n.originator_version)
        last = notifications[-1].id if notifications else (position or 0)
        return last, ({} if position is None else changed)

    def latest_snapshots(self, ids: Sequence[UUID]) -> list[StoredEvent]:
        if self.snapshots is None:
            return []
        latest = (self.snapshots.select_events(i, desc=True, limit=1) for i in ids)
        return [rows[0] for rows in latest if rows]

    def load(
        self, snapshotted: Collection[UUID], after: Mapping[UUID, int]
    ) -> tuple[list[StoredEvent], list[StoredEvent]]:
        with self._lock:
            snapshots = self.latest_snapshots([i for i in after if i in snapshotted])
            versions = {s.originator_id: s.originator_version for s in snapshots}
            return snapshots, self.events_after({i: max(v, versions.get(i, 0)) for i, v in after.items()})

    def events_after(self, after: Mapping[UUID, int]) -> list[StoredEvent]:
        return [e for i, version in after.items() for e in self.recorder.select_events(i, gt=version)]

    def as_of(self, stream_id: UUID, field: str, moment: datetime) -> tuple[StoredEvent | None, list[StoredEvent]]:
        business = field == "occurred_at"
        with self._lock:
            versions = [
                t.version
                for t in self._times.get(stream_id, [])
                if (t.occurred_at if business else t.recorded_at) <= moment
            ]
        if not versions:
            return None, []
        return None, list(self.recorder.select_events(stream_id, lte=max(versions)))

    def find_results(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], StoredResult]:
        with self._lock:
            return {k: self._results[k] for k in keys if k in self._results}
