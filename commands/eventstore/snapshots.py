"""Snapshot rows: written sealed with the batch's events, read back with what checks their seal.

A snapshot is due only for an aggregate its batch changed, at the batch's last event of it, so
the chain hash it is sealed with is one of the batch's links. Read back, each row comes with the
chain's hash of the event it names (``chain_hash``); one whose seal does not check is not used."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from psycopg import Cursor
from psycopg.sql import SQL, Composable

from commands.eventstore.batch import WriteBatch, as_uuid
from commands.seals import Kind, Rejected, Seals, SnapshotRow

log = logging.getLogger(__name__)


def insert_statement(snapshots: Composable) -> bytes:
    return (
        SQL(
            "INSERT INTO {} (originator_id, originator_version, topic, state, event_hash, seal)"
            " SELECT * FROM unnest(%b::uuid[], %b::bigint[], %b::text[], %b::bytea[], %b::bytea[], %b::bytea[])"
            " ON CONFLICT DO NOTHING"
        )
        .format(snapshots)
        .as_bytes()
    )


def latest_statement(snapshots: Composable, events: Composable, hashes: Composable) -> bytes:
    """The newest snapshot of each stream, with the chain's hash of the event it names."""
    return (
        SQL(
            "SELECT s.originator_id, s.originator_version, s.topic, s.state, s.event_hash, s.seal,"
            " h.hash AS chain_hash FROM unnest(%b::uuid[]) AS k(id)"
            " CROSS JOIN LATERAL (SELECT * FROM {snapshots} WHERE originator_id = k.id"
            " ORDER BY originator_version DESC LIMIT 1) s"
            " LEFT JOIN {events} e ON e.originator_id = s.originator_id"
            " AND e.originator_version = s.originator_version"
            " LEFT JOIN {hashes} h ON h.notification_id = e.notification_id"
        )
        .format(snapshots=snapshots, events=events, hashes=hashes)
        .as_bytes()
    )


def insert(
    curs: Cursor[Any], statement: bytes, batch: WriteBatch, links: Sequence[tuple[int, bytes]], seals: Seals
) -> None:
    """Each snapshot of the batch sealed with the chain hash of the batch's event it was taken at."""
    hashes = {
        (as_uuid(e.originator_id), e.originator_version): h for e, (_, h) in zip(batch.events, links, strict=True)
    }
    rows = []
    for snapshot in batch.snapshots:
        stream, version = as_uuid(snapshot.originator_id), snapshot.originator_version
        event_hash = hashes.get((stream, version))
        if event_hash is None:
            log.warning("snapshot of %s at %d not taken at an event of its batch; not saved", stream, version)
            continue
        seal = seals.snapshot(stream, version, snapshot.topic, snapshot.state, event_hash)
        rows.append((stream, version, snapshot.topic, snapshot.state, event_hash, seal))
    if rows:
        curs.execute(statement, [list(column) for column in zip(*rows, strict=True)], binary=True)


def load_statement(snapshots: Composable, events: Composable, hashes: Composable) -> bytes:
    """In one statement (one view of the database): the newest snapshot of each stream asked for
    one, with the chain hash of its event, and then every event of each stream after its
    snapshot or after the version given, whichever is later. Two queries could disagree: a
    snapshot committed between them would hide the events before it."""
    return (
        SQL(
            "WITH k AS (SELECT * FROM unnest(%b::uuid[], %b::bigint[], %b::bool[]) AS k(id, after, snap)),"
            " s AS MATERIALIZED (SELECT s.originator_id, s.originator_version, s.topic, s.state, s.event_hash,"
            " s.seal, h.hash AS chain_hash FROM k"
            " CROSS JOIN LATERAL (SELECT * FROM {snapshots} WHERE k.snap AND originator_id = k.id"
            " ORDER BY originator_version DESC LIMIT 1) s"
            " LEFT JOIN {events} e ON e.originator_id = s.originator_id AND e.originator_version = s.originator_version"
            " LEFT JOIN {hashes} h ON h.notification_id = e.notification_id)"
            " SELECT true AS snapshot, * FROM s"
            " UNION ALL SELECT false, x.originator_id, x.originator_version, x.topic, x.state, null, null, null"
            " FROM k LEFT JOIN s ON s.originator_id = k.id"
            " CROSS JOIN LATERAL (SELECT * FROM {events} e WHERE e.originator_id = k.id"
            " AND e.originator_version > greatest(k.after, coalesce(s.originator_version, 0))"
            " ORDER BY e.originator_version) x"
        )
        .format(snapshots=snapshots, events=events, hashes=hashes)
        .as_bytes()
    )


def row(found: Mapping[str, Any], stream: UUID | None = None) -> SnapshotRow:
    """A snapshot row as read (``stream``: when the query does not answer it)."""

    def optional(name: str) -> bytes | None:
        return bytes(found[name]) if found[name] is not None else None

    return SnapshotRow(
        stream if stream is not None else found["originator_id"],
        found["originator_version"],
        found["topic"],
        bytes(found["state"]),
        optional("event_hash"),
        optional("seal"),
        optional("chain_hash"),
    )


def trusted(seals: Seals, snapshot: SnapshotRow, on_rejected: Callable[[Rejected], None]) -> StoredEvent | None:
    """The snapshot to load from, or None (logged, and reported) if its seal does not check."""
    problem = seals.snapshot_problem(snapshot)
    if problem is None:
        return StoredEvent(snapshot.stream, snapshot.version, snapshot.topic, snapshot.state)
    rejected = Rejected(Kind.SNAPSHOT, f"{snapshot.stream}@{snapshot.version}", problem)
    log.warning("not using a stored %s", rejected.describe())
    on_rejected(rejected)
    return None
