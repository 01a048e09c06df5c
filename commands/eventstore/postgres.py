"""The event store on PostgreSQL: writes a ``WriteBatch`` in one transaction, and reads what the
write side needs (streams after a version, latest snapshots, what changed since a position, a
stream as of a moment, idempotency records), each in one query."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import nullcontext, suppress
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresAggregateRecorder, PostgresApplicationRecorder
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier, Placeholder

from commands.eventstore import appends, chain_rows, idempotency, library, time_index
from commands.eventstore import snapshots as snapshots_rows
from commands.eventstore.batch import CommitOutcomeUnknown, HeadCheck, StoredResult, WriteBatch, as_uuid
from commands.eventstore.names import EVENT_HASHES, EVENTS, LEDGER_SCHEMA, SNAPSHOTS, ledger_table
from commands.seals import Rejected, Seals

log = logging.getLogger(__name__)

# How long an insert that lost its connection tries again (and, when its commit's outcome is
# unknown, asks whether it was saved) before it gives up: a database restart takes a few seconds,
# a failover to a standby up to tens (``OMS_RECONNECT_SECONDS`` sets it for the service).
RECONNECT_SECONDS = 5.0

# Above this much event data, one insert goes outside psycopg's pipeline mode (see ``write``).
PIPELINE_MAX_BYTES = 1_000_000

# Events read per query when a writer catches up with what others wrote.
CHANGED_PAGE = 10_000

_EVENTS = ledger_table(EVENTS)

# Four arrays sent in binary (%b), rather than the library's one array of a composite type in
# text, which escaped every byte of every event's state.
_INSERT_EVENTS = (
    SQL(
        "INSERT INTO {} (originator_id, originator_version, topic, state)"
        " SELECT * FROM unnest(%b::uuid[], %b::bigint[], %b::text[], %b::bytea[]) RETURNING notification_id"
    )
    .format(_EVENTS)
    .as_bytes()
)
# LATERAL keeps each stream an index range scan; a plain join lets the planner hash-join against
# the whole table.
_AFTER = (
    SQL(
        "SELECT e.originator_id, e.originator_version, e.topic, e.state"
        " FROM unnest(%b::uuid[], %b::bigint[]) AS k(id, after)"
        " CROSS JOIN LATERAL (SELECT * FROM {} s WHERE s.originator_id = k.id"
        " AND s.originator_version > k.after ORDER BY s.originator_version) e"
    )
    .format(_EVENTS)
    .as_bytes()
)
_HEAD = SQL("SELECT coalesce(max(notification_id), 0) AS head FROM {}").format(_EVENTS)
# The LIMIT keeps the plan an index range scan: on a table whose statistics lag behind a bulk
# load, the plain range was planned as a parallel scan (10 ms, for nothing, on every group commit).
_CHANGED = (
    SQL(
        "SELECT originator_id, max(originator_version) AS version, max(notification_id) AS last,"
        " count(*) AS events FROM (SELECT originator_id, originator_version, notification_id FROM {}"
        " WHERE notification_id > %s ORDER BY notification_id LIMIT %s) e GROUP BY originator_id"
    )
    .format(_EVENTS)
    .as_bytes()
)
_SELECT_SAVED = (
    SQL("SELECT state FROM {} WHERE originator_id = %s AND originator_version = %s").format(_EVENTS).as_bytes()
)
# In the batch's own order: positions follow insert order, and streams and versions are unique in it.
_SELECT_POSITIONS = (
    SQL(
        "SELECT e.notification_id FROM unnest(%s::uuid[], %s::bigint[]) WITH ORDINALITY AS b(id, version, n)"
        " JOIN {} e ON e.originator_id = b.id AND e.originator_version = b.version ORDER BY b.n"
    )
    .format(_EVENTS)
    .as_bytes()
)


class PostgresEventStore:
    def __init__(
        self,
        recorder: PostgresApplicationRecorder,
        snapshots: PostgresAggregateRecorder | None,
        seals: Seals | None = None,
        reconnect_seconds: float = RECONNECT_SECONDS,
    ) -> None:
        self.reconnect_seconds = reconnect_seconds
        if recorder.datastore.schema != LEDGER_SCHEMA or recorder.events_table_name != EVENTS:
            raise ValueError(f"the ledger's events live in {LEDGER_SCHEMA}.{EVENTS}")
        self.recorder = recorder
        self.snapshots = snapshots
        self.seals = seals or Seals()
        # Told of every stored row not used because its seal did not check (the service counts them).
        self.on_rejected: Callable[[Rejected], None] = lambda _: None
        # Told of each batch whose connection was lost while saving: whether it had been saved.
        self.on_lost_connection: Callable[[bool], None] = lambda _: None
        # Told of each batch saved: by ``appends`` in one round trip, or with the head read under the lock.
        self.on_written: Callable[[str], None] = lambda _: None
        self.datastore = recorder.datastore
        # The head and last hash this store last saved (or saw under the lock): a strict batch
        # that expects this head goes by ``appends`` in one round trip. None: not known.
        self._tail: appends.Tail | None = None
        self._appends = True  # False on a database without ``ledger.expect_head`` (not upgraded)
        self._lock = library.lock_statements(recorder)
        self._notify = library.notify_statement(recorder)
        snapshots_table = Identifier(LEDGER_SCHEMA, snapshots.events_table_name if snapshots else SNAPSHOTS)
        hashes = ledger_table(EVENT_HASHES)
        self._insert_snapshots = snapshots_rows.insert_statement(snapshots_table)
        self._latest = snapshots_rows.latest_statement(snapshots_table, _EVENTS, hashes)
        self._load = snapshots_rows.load_statement(snapshots_table, _EVENTS, hashes)
        self._as_of = {
            field: SQL(
                "WITH v AS (SELECT {version} AS version),"
                " s AS (SELECT originator_version, topic, state, event_hash, seal FROM {snapshots}"
                " WHERE originator_id = %(id)s"
                " AND originator_version <= (SELECT version FROM v) ORDER BY originator_version DESC LIMIT 1)"
                " SELECT true AS snapshot, s.originator_version, s.topic, s.state, s.event_hash, s.seal,"
                " (SELECT h.hash FROM {events} e JOIN {hashes} h USING (notification_id)"
                " WHERE e.originator_id = %(id)s AND e.originator_version = s.originator_version) AS chain_hash"
                " FROM s"
                " UNION ALL SELECT false, originator_version, topic, state, null, null, null FROM {events}"
                " WHERE originator_id = %(id)s AND originator_version <= (SELECT version FROM v)"
                " AND originator_version > coalesce((SELECT originator_version FROM s), 0)"
                " ORDER BY snapshot DESC, originator_version"
            )
            .format(
                version=time_index.version_at(field, Placeholder("id"), Placeholder("at")),
                snapshots=snapshots_table,
                events=_EVENTS,
                hashes=hashes,
            )
            .as_bytes()
            for field in ("occurred_at", "recorded_at")
        }
        # Without snapshots (a ledger made to replay every event): the events up to that version.
        self._as_of_unsnapshotted = {
            field: SQL(
                "SELECT false AS snapshot, originator_version, topic, state FROM {events}"
                " WHERE originator_id = %(id)s AND originator_version <= {version} ORDER BY originator_version"
            )
            .format(version=time_index.version_at(field, Placeholder("id"), Placeholder("at")), events=_EVENTS)
            .as_bytes()
            for field in ("occurred_at", "recorded_at")
        }

    # --- writing ----------------------------------------------------------------

    def write(self, batch: WriteBatch) -> list[int]:
        """Save the batch: its events, chain rows, time-index rows, idempotency records and
        snapshots in one transaction; the events' positions.

        A lost connection before the commit saved nothing, and the write goes again on a fresh
        one; during the commit, all of it may be saved, so first it asks (``_saved_positions``)."""
        if not batch.events:
            return []
        deadline = time.monotonic() + self.reconnect_seconds
        attempt = 0
        while True:
            attempt += 1
            try:
                positions = self._write_once(batch)
                break
            except (InterfaceError, OperationalError) as error:
                log.warning("an insert of %d events lost its connection: %s", len(batch.events), error)
                self.replace_broken_connections()
                saved = self._saved_positions(batch, deadline)
                self.on_lost_connection(saved is not None)
                if saved is not None:
                    log.warning("the lost insert had committed; its events are at %d..%d", saved[0], saved[-1])
                    positions = saved
                    break
                if time.monotonic() >= deadline:
                    raise
                time.sleep(min(0.05 * 2**attempt, 1.0))
        return positions

    def _write_once(self, batch: WriteBatch) -> list[int]:
        tail, self._tail = self._tail, None  # known again only once this write is committed
        appended = None
        if tail is not None and self._appends and _appendable(batch, tail):
            appended = self._append(batch, tail)
        positions, links = appended or self._insert_under_lock(batch)
        self._tail = appends.Tail(positions[-1], links[-1][1])
        self.on_written("append" if appended else "under_lock")
        return positions

    def _append(self, batch: WriteBatch, tail: appends.Tail) -> tuple[list[int], list[tuple[int, bytes]]] | None:
        """A strict batch whose head this store knows: the whole transaction in one round trip.
        None if the database cannot take it (not upgraded): nothing was saved."""
        with self.datastore.get_connection() as conn:
            conn.prepare_threshold = None  # as in ``_insert_under_lock``
            try:
                # A large batch goes outside psycopg's pipeline (see ``_insert_under_lock``): a few
                # round trips more, against its megabytes.
                small = sum(len(e.state) for e in batch.events) < PIPELINE_MAX_BYTES
                with conn.pipeline() if small else nullcontext(), conn.transaction(), conn.cursor() as curs:
                    for statement in self._lock:
                        curs.execute(statement)
                    curs.execute(self._notify)
                    positions, links = appends.append(curs, tail, batch, self.seals, self._snapshot_statement)
            except psycopg.errors.RaiseException as error:
                if error.diag.message_primary != appends.HEAD_MOVED or batch.head is None:
                    raise
                batch.head.see(int(error.diag.message_detail or 0))  # raises HeadMoved
                raise
            except psycopg.errors.UndefinedFunction as error:
                if "expect_head" not in str(error):
                    raise
                log.warning("the database lacks ledger.expect_head (run `oms db upgrade`): every batch reads the head")
                self._appends = False
                return None
        if batch.head is not None:
            batch.head.see(tail.position)  # checked under the lock by ``ledger.expect_head``
        return positions, links

    @property
    def _snapshot_statement(self) -> bytes | None:
        return self._insert_snapshots if self.snapshots is not None else None

    def _insert_under_lock(self, batch: WriteBatch) -> tuple[list[int], list[tuple[int, bytes]]]:
        """One transaction, in psycopg's pipeline for the usual group commit, reading the head
        under the lock. A large one goes without: psycopg's pipeline stops sending once no command
        is left to queue, even when its last flush left data behind, and then waits for results the
        server can't send before it has read that data (seen with 15 MB; reproducibly with 40 MB)."""
        pipelined = sum(len(e.state) for e in batch.events) < PIPELINE_MAX_BYTES
        with self.datastore.get_connection() as conn:
            # Nothing is prepared on a connection that writes events: a statement prepared inside
            # a pipeline whose transaction then fails on a conflict is lost on the server while
            # psycopg still counts it as prepared ("prepared statement _pg3_N does not exist").
            conn.prepare_threshold = None
            if not pipelined:
                with conn.transaction(), conn.cursor() as curs, conn.cursor() as head:
                    self._insert(curs, head, batch)
                    return self._after_insert(curs, head, batch)
            with conn.pipeline() as pipeline, conn.transaction(), conn.cursor() as curs, conn.cursor() as head:
                self._insert(curs, head, batch)
                try:
                    pipeline.sync()  # a conflict raises here, before the commit is sent
                except psycopg.IntegrityError:
                    # A writer that decided on a stale cache is told so, rather than that it lost a race.
                    with suppress(psycopg.Error):
                        _see_head(head, batch.head)
                    raise
                return self._after_insert(curs, head, batch)

    def _insert(self, curs: Cursor[DictRow], head: Cursor[DictRow], batch: WriteBatch) -> None:
        for statement in self._lock:
            curs.execute(statement)
        curs.execute(self._notify)
        # The chain's head is read under the lock, in the same round trip as the inserts.
        head.execute(chain_rows.HEAD)
        # The time index goes in under the table lock too: inserted before it, two commands
        # writing the same streams could each hold a key the other waits for (a deadlock).
        if batch.times:
            curs.execute(time_index.INSERT, time_index.insert_params(batch.times))
        events = batch.events
        curs.execute(
            _INSERT_EVENTS,
            (
                [e.originator_id for e in events],
                [e.originator_version for e in events],
                [e.topic for e in events],
                [e.state for e in events],
            ),
            binary=True,
        )

    def _after_insert(
        self, curs: Cursor[DictRow], head: Cursor[DictRow], batch: WriteBatch
    ) -> tuple[list[int], list[tuple[int, bytes]]]:
        positions = [row["notification_id"] for row in curs.fetchall()]
        row = _see_head(head, batch.head)
        previous = bytes(row["hash"]) if row and row["hash"] is not None else None
        links = chain_rows.insert(curs, previous, batch.events, positions, self.seals)
        if batch.idempotency:
            idempotency.insert(curs, batch.idempotency, positions, self.seals)
        if batch.snapshots and self.snapshots is not None:
            snapshots_rows.insert(curs, self._insert_snapshots, batch, links, self.seals)
        return positions, links

    def _saved_positions(self, batch: WriteBatch, deadline: float) -> list[int] | None:
        """The positions of a batch whose commit's outcome is unknown, if it was committed; None if
        it was not. Its first event decides: the same stream and version holding the same bytes
        (which carry the command's recorded time to the microsecond) can only be this batch's.
        Asks until the database answers or ``deadline`` passes, then raises: the outcome is unknown."""
        first = batch.events[0]
        while True:
            try:
                with self.datastore.get_connection() as conn, conn.cursor() as curs:
                    curs.execute(_SELECT_SAVED, (first.originator_id, first.originator_version))
                    row = curs.fetchone()
                    if row is None or bytes(row["state"]) != first.state:
                        return None
                    curs.execute(
                        _SELECT_POSITIONS,
                        ([e.originator_id for e in batch.events], [e.originator_version for e in batch.events]),
                    )
                    return [int(r["notification_id"]) for r in curs.fetchall()]
            except (InterfaceError, OperationalError) as error:
                if time.monotonic() >= deadline:
                    raise CommitOutcomeUnknown(
                        f"the database went away while a batch of {len(batch.events)} events was committed,"
                        f" and did not come back in time to tell whether it was: {error}"
                    ) from error
                time.sleep(0.2)

    def replace_broken_connections(self) -> None:
        """Test every idle pooled connection at once, dropping (and replacing) those a database
        restart broke: otherwise each would fail one request before the pool noticed."""
        with suppress(Exception):
            self.datastore.pool.check()

    # --- reading ----------------------------------------------------------------

    def changed_since(self, position: int | None) -> tuple[int, dict[UUID, int]]:
        """The ledger's last position, and the newest version of each stream written after ``position``
        (nothing when ``position`` is None: a first look)."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            if position is None:
                row = curs.execute(_HEAD).fetchone()
                return (row["head"] if row else 0), {}
            changed: dict[UUID, int] = {}
            while True:
                rows = curs.execute(_CHANGED, (position, CHANGED_PAGE), prepare=True).fetchall()
                for row in rows:
                    changed[row["originator_id"]] = max(changed.get(row["originator_id"], 0), row["version"])
                position = max((row["last"] for row in rows), default=position)
                if sum(row["events"] for row in rows) < CHANGED_PAGE:
                    return position, changed

    def latest_snapshots(self, ids: Sequence[UUID]) -> list[StoredEvent]:
        """The newest snapshot of each stream that has one, in one query; one whose seal does not
        check is left out (its aggregate is folded from its events) and reported."""
        if self.snapshots is None or not ids:
            return []
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._latest, (list(ids),), prepare=True, binary=True)
            rows = curs.fetchall()
        found = (snapshots_rows.trusted(self.seals, snapshots_rows.row(r), self.on_rejected) for r in rows)
        return [s for s in found if s is not None]

    def load(
        self, snapshotted: Collection[UUID], after: Mapping[UUID, int]
    ) -> tuple[list[StoredEvent], list[StoredEvent]]:
        """In one query: the newest trusted snapshot of each ``snapshotted`` stream, and every event
        of each stream in ``after`` past its snapshot or the version given, each stream in order.
        A stream whose snapshot does not check is read again from the version given."""
        if not after:
            return [], []
        if self.snapshots is None:
            return [], self.events_after(after)
        ids = list(after)
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            params = (ids, list(after.values()), [i in snapshotted for i in ids])
            rows = curs.execute(self._load, params, prepare=True, binary=True).fetchall()
        found: list[StoredEvent] = []
        untrusted: set[UUID] = set()
        for r in rows:
            if r["snapshot"]:
                snapshot = snapshots_rows.trusted(self.seals, snapshots_rows.row(r), self.on_rejected)
                if snapshot is None:
                    untrusted.add(r["originator_id"])
                else:
                    found.append(snapshot)
        events = [
            StoredEvent(r["originator_id"], r["originator_version"], r["topic"], bytes(r["state"]))
            for r in rows
            if not r["snapshot"] and r["originator_id"] not in untrusted
        ]
        if untrusted:
            events += self.events_after({i: after[i] for i in untrusted})
        return found, events

    def events_after(self, after: Mapping[UUID, int]) -> list[StoredEvent]:
        """Every event of each stream after the given version, in one query, each stream in order."""
        if not after:
            return []
        return self._stored(_AFTER, (list(after), list(after.values())))

    def as_of(self, stream_id: UUID, field: str, moment: datetime) -> tuple[StoredEvent | None, list[StoredEvent]]:
        """In one query: the stream's latest snapshot at or below its version as of ``moment``
        (by business or recorded time), and the events from there up to that version."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            params = {"id": stream_id, "at": moment}
            statement = (self._as_of if self.snapshots is not None else self._as_of_unsnapshotted)[field]
            rows = curs.execute(statement, params, prepare=True, binary=True).fetchall()
            snapshot = None
            if rows and rows[0]["snapshot"]:
                snapshot = snapshots_rows.trusted(self.seals, snapshots_rows.row(rows[0], stream_id), self.on_rejected)
                if snapshot is None:  # not trusted: every event up to that version, instead
                    rows = curs.execute(self._as_of_unsnapshotted[field], params, prepare=True, binary=True).fetchall()
            events = [
                StoredEvent(stream_id, row["originator_version"], row["topic"], bytes(row["state"]))
                for row in rows
                if not row["snapshot"]
            ]
        return snapshot, events

    def find_results(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], StoredResult]:
        """The stored results of these (scope, key) pairs, in one query."""
        if not keys:
            return {}
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            found, rejected = idempotency.find(curs, keys, self.seals)
        for record in rejected:
            log.error("refusing to answer from a stored %s", record.describe())
            self.on_rejected(record)
        return found

    def _stored(self, statement: bytes, params: tuple[Any, ...]) -> list[StoredEvent]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, params, prepare=True, binary=True)
            return [
                StoredEvent(row["originator_id"], row["originator_version"], row["topic"], bytes(row["state"]))
                for row in curs.fetchall()
            ]


def _appendable(batch: WriteBatch, tail: appends.Tail) -> bool:
    """A batch decided on the cache alone, expecting the head this store saved, with every time-index row."""
    check = batch.head
    return (
        check is not None
        and check.strict
        and check.expected == tail.position
        and len(batch.times) == len(batch.events)
        and all(  # the time index takes the events' streams and versions
            t.version == e.originator_version and t.stream == as_uuid(e.originator_id)
            for t, e in zip(batch.times, batch.events, strict=True)
        )
    )


def _see_head(head: Cursor[DictRow], check: HeadCheck | None) -> DictRow | None:
    """The ledger's head and last hash, read under the lock before the insert; raises
    ``HeadMoved`` if the head is not where a strict ``check`` expects it."""
    row = head.fetchone()
    if check is not None:
        check.see((row["head"] or 0) if row else 0)
    return row
