"""Each aggregate's latest snapshot against the aggregate folded again from its events.

A seal proves a snapshot is what the writer stored; this proves the writer stored the truth:
the events up to the snapshot's version are folded afresh, snapshotted the same way, and
the two states compared field by field (in their stored JSON form, so types compare exactly).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import Mapper, StoredEvent
from psycopg import Connection, sql

from commands.eventstore.names import EVENTS, SNAPSHOTS, ledger_table
from domain.base import LedgerAggregate

_LATEST = sql.SQL(
    "SELECT DISTINCT ON (originator_id) originator_id, originator_version, topic, state FROM {}"
    " ORDER BY originator_id, originator_version DESC"
).format(ledger_table(SNAPSHOTS))
_EVENTS = sql.SQL(
    "SELECT originator_version, topic, state FROM {} WHERE originator_id = %s AND originator_version <= %s"
    " ORDER BY originator_version"
).format(ledger_table(EVENTS))


@dataclass(frozen=True, slots=True)
class SnapshotDifference:
    stream: UUID
    version: int
    topic: str
    fields: dict[str, tuple[Any, Any]]  # field -> (folded from events, in the snapshot)

    def describe(self) -> str:
        name = self.topic.rsplit(":", 1)[-1]
        changes = "; ".join(f"{k}: events say {a!r}, snapshot says {b!r}" for k, (a, b) in sorted(self.fields.items()))
        return f"{name} {self.stream} snapshot at version {self.version}: {changes}"


@dataclass(slots=True)
class SnapshotReport:
    checked: int = 0
    total: int = 0
    differences: list[SnapshotDifference] = field(default_factory=list)


def compare(
    conn: Connection[Any],
    mapper: Mapper[UUID],
    snapshot_mapper: Mapper[UUID],
    limit: int = 50,
    progress: Callable[[int], None] | None = None,
) -> SnapshotReport:
    report = SnapshotReport()
    for stored in _latest(conn):
        folded = _fold(conn, mapper, stored.originator_id, stored.originator_version)  # type: ignore[arg-type]
        report.checked += 1
        if progress is not None:
            progress(report.checked)
        expected = _state(snapshot_mapper.to_stored_event(Snapshot.take(folded)).state) if folded else {}
        found = _state(stored.state)
        changed = {k: (expected.get(k), found.get(k)) for k in expected.keys() | found.keys()}
        fields = {k: pair for k, pair in changed.items() if pair[0] != pair[1]}
        if fields:
            report.total += 1
            if len(report.differences) < limit:
                stream = UUID(str(stored.originator_id))
                report.differences.append(SnapshotDifference(stream, stored.originator_version, stored.topic, fields))
    return report


def _latest(conn: Connection[Any]) -> Iterator[StoredEvent]:
    with conn.cursor(name="latest_snapshots") as cur:
        cur.execute(_LATEST)
        rows = cur.fetchall()
    for stream, version, topic, state in rows:
        yield StoredEvent(stream, version, topic, bytes(state))


def _fold(conn: Connection[Any], mapper: Mapper[UUID], stream: UUID, version: int) -> LedgerAggregate | None:
    aggregate: Any = None
    for v, topic, state in conn.execute(_EVENTS, (stream, version)).fetchall():
        aggregate = mapper.to_domain_event(StoredEvent(stream, v, topic, bytes(state))).mutate(aggregate)  # type: ignore[attr-defined]
    return aggregate if isinstance(aggregate, LedgerAggregate) else None


def _state(stored: bytes) -> dict[str, Any]:
    """The snapshot's aggregate state as stored (the time the snapshot was taken is not part of it)."""
    state: dict[str, Any] = orjson.loads(stored).get("state", {})
    return state
