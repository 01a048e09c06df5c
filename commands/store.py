"""Event-store recorders that keep each command's idempotency record with its events.

The record is written in the same transaction as the events, so a command either
leaves both or neither. A second insert of the same key fails on the primary key
inside the database, which aborts the whole transaction, events included.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import IntegrityError, InterfaceError, OperationalError, StoredEvent
from eventsourcing.popo import POPOApplicationRecorder
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed, Identifier, Placeholder

from commands import keystore
from commands.chain import GENESIS, chain

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """A command's key, the hash of what it asked, and what it answered."""

    scope: str
    key: str
    request_hash: str
    result: dict[str, Any]
    # Index, among the events saved together, of this command's last event: its position.
    # None: the last of them all.
    last_event: int | None = None

    def stored(self, notification_ids: Sequence[int] | None) -> dict[str, Any]:
        if not notification_ids:
            return {**self.result, "position": None}
        index = len(notification_ids) - 1 if self.last_event is None else self.last_event
        return {**self.result, "position": notification_ids[index]}


# How long an insert that lost its connection tries again (and, when its commit's outcome is
# unknown, asks whether it was saved) before it gives up: a database restart takes a few seconds.
RECONNECT_SECONDS = 5.0

# Above this much event data, one insert goes outside psycopg's pipeline mode (see insert_events).
PIPELINE_MAX_BYTES = 1_000_000

# Events read per query when a writer catches up with what others wrote.
CHANGED_PAGE = 10_000

# (stream, version, business time, recorded time) of one event, indexed for as-of reads.
EventTime = tuple[UUID, int, datetime, datetime]


class _ChainHead(threading.local):
    """The query for the chain's head, sent with an insert and read back after it, per thread."""

    cursor: Cursor[DictRow] | None = None


@dataclass(slots=True)
class HeadCheck:
    """The ledger's last position as a writer last knew it, checked under the table lock.

    ``strict``: the writer decided without looking for other writers' events, so a head that
    moved means its cache may be stale, and the insert fails with ``HeadMoved``. Either way
    the insert leaves the head it saw in ``seen``."""

    expected: int
    strict: bool
    seen: int | None = None

    def see(self, head: int) -> None:
        self.seen = head
        if self.strict and head != self.expected:
            raise HeadMoved(f"another writer saved events after position {self.expected}")


class HeadMoved(IntegrityError):
    """Another writer saved events since this writer last looked: nothing was saved."""


class CommitOutcomeUnknown(OperationalError):
    """The connection failed while a batch was committed, and the database could not be asked in time
    whether the commit went through. Running the batch again could save it twice: only a command
    with an idempotency key can safely be sent again."""


@dataclass(frozen=True, slots=True)
class StoredResult:
    request_hash: str
    result: dict[str, Any]


class PostgresLedgerRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events") -> None:
        _without_jit(datastore)  # before the library's constructor opens the pool
        super().__init__(datastore, events_table_name=events_table_name)
        self._chain_head = _ChainHead()
        table = Identifier(self.datastore.schema, "idempotency_keys")
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                " scope text NOT NULL,"
                " key text NOT NULL,"
                " request_hash text NOT NULL,"
                " result jsonb NOT NULL,"
                " recorded_at timestamptz NOT NULL DEFAULT now(),"
                " PRIMARY KEY (scope, key))"
            ).format(table)
        )
        self._insert_idempotency = (
            SQL("INSERT INTO {} (scope, key, request_hash, result) VALUES (%s, %s, %s, %s)").format(table).as_bytes()
        )
        hashes = Identifier(self.datastore.schema, "event_hashes")
        self.sql_create_statements.append(
            SQL("CREATE TABLE IF NOT EXISTS {} (notification_id bigint PRIMARY KEY, hash bytea NOT NULL)").format(
                hashes
            )
        )
        times = Identifier(self.datastore.schema, "event_times")
        self.sql_create_statements.extend(time_index_ddl(self.datastore.schema))
        self._insert_times = (
            SQL(
                # out_of_order: earlier, by either clock, than an event before it in the stream.
                # Only such events can be the answer after the latest time at or before a moment.
                # The stream's latest times are looked up once per stream, and not for new ones.
                "WITH u AS (SELECT * FROM unnest(%b::uuid[], %b::bigint[], %b::timestamptz[], %b::timestamptz[])"
                " AS u(id, version, occurred, recorded)),"
                " p AS (SELECT k.id, t.occurred, t.recorded"
                " FROM (SELECT id FROM u GROUP BY id HAVING min(version) > 1) k"
                " CROSS JOIN LATERAL (SELECT max(occurred_at) AS occurred, max(recorded_at) AS recorded FROM {times}"
                " WHERE originator_id = k.id) t)"
                " INSERT INTO {times} SELECT u.id, u.version, u.occurred, u.recorded,"
                " coalesce(u.occurred < greatest(max(u.occurred) OVER w, p.occurred), false)"
                " OR coalesce(u.recorded < greatest(max(u.recorded) OVER w, p.recorded), false)"
                " FROM u LEFT JOIN p USING (id)"
                " WINDOW w AS (PARTITION BY u.id ORDER BY u.version ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)"
            )
            .format(times=times)
            .as_bytes()
        )
        self._version_at = {
            field: SQL("SELECT {} AS max").format(
                _version_at(times, field, Placeholder(name="id"), Placeholder(name="at"))
            )
            for field in ("occurred_at", "recorded_at")
        }
        events = Identifier(self.datastore.schema, self.events_table_name)
        self._chain_head_query = (
            SQL(
                "SELECT (SELECT max(notification_id) FROM {}) AS head,"
                " (SELECT hash FROM {} ORDER BY notification_id DESC LIMIT 1) AS hash"
            )
            .format(events, hashes)
            .as_bytes()
        )
        self._insert_hashes = (
            SQL("INSERT INTO {} (notification_id, hash) SELECT * FROM unnest(%b::bigint[], %b::bytea[])")
            .format(hashes)
            .as_bytes()
        )
        self.sql_create_statements.extend(keystore.ddl(self.datastore.schema))
        self._insert_columns = (
            SQL(
                "INSERT INTO {} (originator_id, originator_version, topic, state)"
                " SELECT * FROM unnest(%b::uuid[], %b::bigint[], %b::text[], %b::bytea[]) RETURNING notification_id"
            )
            .format(events)
            .as_bytes()
        )
        # Rendered once: a composed statement is rendered again on every execute.
        self._latest: dict[str, bytes] = {}
        self._as_of: dict[tuple[str, str], bytes] = {}
        self._after = (
            SQL(
                # LATERAL keeps each stream an index range scan; a plain join lets the
                # planner hash-join against the whole table.
                "SELECT e.originator_id, e.originator_version, e.topic, e.state"
                " FROM unnest(%b::uuid[], %b::bigint[]) AS k(id, after)"
                " CROSS JOIN LATERAL (SELECT * FROM {} s WHERE s.originator_id = k.id"
                " AND s.originator_version > k.after ORDER BY s.originator_version) e"
            )
            .format(events)
            .as_bytes()
        )
        self._head = SQL("SELECT coalesce(max(notification_id), 0) AS head FROM {}").format(events)
        self._changed = (
            SQL(
                # The LIMIT keeps the plan an index range scan: on a table whose statistics lag
                # behind a bulk load, the plain range was planned as a parallel scan (10 ms, for
                # nothing, on every group commit).
                "SELECT originator_id, max(originator_version) AS version, max(notification_id) AS last,"
                " count(*) AS events FROM (SELECT originator_id, originator_version, notification_id FROM {}"
                " WHERE notification_id > %s ORDER BY notification_id LIMIT %s) e GROUP BY originator_id"
            )
            .format(events)
            .as_bytes()
        )
        self._select_saved = (
            SQL("SELECT state FROM {} WHERE originator_id = %s AND originator_version = %s").format(events).as_bytes()
        )
        # In the batch's own order: positions follow insert order, and the batch's streams and
        # versions are unique within it.
        self._select_positions = (
            SQL(
                "SELECT e.notification_id FROM unnest(%s::uuid[], %s::bigint[]) WITH ORDINALITY AS b(id, version, n)"
                " JOIN {} e ON e.originator_id = b.id AND e.originator_version = b.version ORDER BY b.n"
            )
            .format(events)
            .as_bytes()
        )
        self._select_idempotency = SQL(
            "SELECT t.scope, t.key, t.request_hash, t.result FROM {} t"
            " JOIN unnest(%s::text[], %s::text[]) AS k(scope, key) USING (scope, key)"
        ).format(table)

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """The library's insert, in a pipeline, for the usual group commit. A large one goes
        without: psycopg's pipeline stops sending once no command is left to queue, even when
        its last flush left data behind, and then waits for results the server can't send
        before it has read that data (seen with 15 MB; reproducibly with 40 MB)."""
        if not stored_events:
            return None
        small = sum(len(e.state) for e in stored_events) < PIPELINE_MAX_BYTES
        insert = self._insert_events_pipelined if small else self._insert_events_unpipelined
        deadline = time.monotonic() + RECONNECT_SECONDS
        attempt = 0
        while True:
            attempt += 1
            try:
                return insert(stored_events, **kwargs)
            except (InterfaceError, OperationalError) as error:
                # The connection failed. Before the commit was sent nothing is saved, and the
                # insert can go again on a fresh connection; during the commit, all of it may be.
                # Retrying blindly would then fail on (stream, version) and run the commands again
                # on top of their own events, so first ask whether the batch is in the ledger.
                log.warning("an insert of %d events lost its connection: %s", len(stored_events), error)
                self.replace_broken_connections()
                saved = self._saved_positions(stored_events, deadline)
                if saved is not None:
                    log.warning("the lost insert had committed; its events are at %d..%d", saved[0], saved[-1])
                    return saved
                if time.monotonic() >= deadline:
                    raise
                time.sleep(min(0.05 * 2**attempt, 1.0))

    def _saved_positions(self, stored_events: Sequence[StoredEvent], deadline: float) -> list[int] | None:
        """The positions of a batch whose commit's outcome is unknown, if it was committed; None if
        it was not. Its first event decides: the same stream and version holding the same bytes
        (which carry the command's recorded time to the microsecond) can only be this batch's.
        Asks until the database answers or ``deadline`` passes, then raises: the outcome is unknown."""
        first = stored_events[0]
        while True:
            try:
                with self.datastore.get_connection() as conn, conn.cursor() as curs:
                    curs.execute(self._select_saved, (first.originator_id, first.originator_version))
                    row = curs.fetchone()
                    if row is None or bytes(row["state"]) != first.state:
                        return None
                    curs.execute(
                        self._select_positions,
                        ([e.originator_id for e in stored_events], [e.originator_version for e in stored_events]),
                    )
                    return [int(r["notification_id"]) for r in curs.fetchall()]
            except (InterfaceError, OperationalError) as error:
                if time.monotonic() >= deadline:
                    raise CommitOutcomeUnknown(
                        f"the database went away while a batch of {len(stored_events)} events was committed,"
                        f" and did not come back in time to tell whether it was: {error}"
                    ) from error
                time.sleep(0.2)

    def replace_broken_connections(self) -> None:
        """Test every idle pooled connection at once, dropping (and replacing) those a database
        restart broke: otherwise each would fail one request before the pool noticed."""
        with suppress(Exception):
            self.datastore.pool.check()

    def _insert_events_pipelined(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """The library's pipelined insert, except that an error raised here in Python (``HeadMoved``)
        leaves through the transaction and rolls it back; the library's would commit."""
        with (
            self.datastore.get_connection() as conn,
            conn.pipeline() as pipeline,
            conn.transaction(),
            conn.cursor() as curs,
        ):
            self._insert_events(curs, stored_events, **kwargs)
            self._insert_stored_events(curs, stored_events, **kwargs)
            try:
                pipeline.sync()  # a conflict raises here, before the commit is sent
            except psycopg.IntegrityError:
                # A writer that decided on a stale cache is told so, rather than that it lost a race.
                with suppress(psycopg.Error):
                    self._chain_head_row(kwargs.get("head"))
                raise
            return self._fetch_ids_after_insert_events(curs, stored_events, **kwargs)

    def _insert_events_unpipelined(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            self._insert_events(curs, stored_events, **kwargs)
            self._insert_stored_events(curs, stored_events, **kwargs)
            return self._fetch_ids_after_insert_events(curs, stored_events, **kwargs)

    def _fetch_ids_after_insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        notification_ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        if notification_ids:
            self._extend_chain(curs, stored_events, notification_ids, kwargs.get("head"))
        records: Sequence[IdempotencyRecord] = kwargs.get("idempotency") or ()
        if records:
            # The nested pipeline syncs on exit, so a duplicate key raises here,
            # inside the library's error handling, and the transaction rolls back.
            with curs.connection.pipeline():
                curs.executemany(
                    self._insert_idempotency,
                    [(r.scope, r.key, r.request_hash, json.dumps(r.stored(notification_ids))) for r in records],
                )
        return notification_ids

    def _insert_stored_events(self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        """The library's insert, with four arrays sent in binary (%b) instead of one array of a
        composite type in text, which escaped every byte of every event's state."""
        # Nothing is prepared on a connection that writes events: a statement prepared inside
        # a pipeline whose transaction then fails on a conflict is lost on the server while
        # psycopg still counts it as prepared ("prepared statement _pg3_N does not exist").
        curs.connection.prepare_threshold = None
        self._lock_table(curs)
        self._notify_channel(curs)
        # The chain's head is read under the lock, in the same round trip as the inserts.
        self._chain_head.cursor = curs.connection.cursor()
        self._chain_head.cursor.execute(self._chain_head_query)
        # The time index goes in under the table lock too: inserted before it, two commands
        # writing the same streams could each hold a key the other waits for (a deadlock).
        times: list[EventTime] | None = kwargs.get("times")
        if times:
            curs.execute(self._insert_times, [list(column) for column in zip(*times, strict=True)])
        curs.execute(
            self._insert_columns,
            (
                [e.originator_id for e in stored_events],
                [e.originator_version for e in stored_events],
                [e.topic for e in stored_events],
                [e.state for e in stored_events],
            ),
            binary=True,
        )

    def select_as_of(
        self, snapshots_table: str, stream_id: UUID, field: str, moment: datetime
    ) -> tuple[StoredEvent | None, list[StoredEvent]]:
        """In one query: the stream's latest snapshot at or below its version as of ``moment``
        (by business or recorded time), and the events from there up to that version."""
        key = (snapshots_table, field)
        statement = self._as_of.get(key)
        if statement is None:
            statement = self._as_of[key] = (
                SQL(
                    "WITH v AS (SELECT {version} AS version),"
                    " s AS (SELECT originator_version, topic, state FROM {snapshots} WHERE originator_id = %(id)s"
                    " AND originator_version <= (SELECT version FROM v) ORDER BY originator_version DESC LIMIT 1)"
                    " SELECT true AS snapshot, originator_version, topic, state FROM s"
                    " UNION ALL SELECT false, originator_version, topic, state FROM {events}"
                    " WHERE originator_id = %(id)s AND originator_version <= (SELECT version FROM v)"
                    " AND originator_version > coalesce((SELECT originator_version FROM s), 0)"
                    " ORDER BY snapshot DESC, originator_version"
                )
                .format(
                    version=_version_at(
                        Identifier(self.datastore.schema, "event_times"), field, Placeholder("id"), Placeholder("at")
                    ),
                    snapshots=Identifier(self.datastore.schema, snapshots_table),
                    events=Identifier(self.datastore.schema, self.events_table_name),
                )
                .as_bytes()
            )
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            rows = curs.execute(statement, {"id": stream_id, "at": moment}, prepare=True, binary=True).fetchall()
        stored = [
            (row["snapshot"], StoredEvent(stream_id, row["originator_version"], row["topic"], bytes(row["state"])))
            for row in rows
        ]
        snapshot = stored[0][1] if stored and stored[0][0] else None
        return snapshot, [event for is_snapshot, event in stored if not is_snapshot]

    def version_at(self, stream_id: UUID, field: str, moment: datetime) -> int | None:
        """The last version of a stream whose business (``occurred_at``) or recorded time is <= moment."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            row = curs.execute(self._version_at[field], {"id": stream_id, "at": moment}).fetchone()
        return None if row is None else row["max"]

    def _extend_chain(
        self,
        curs: Cursor[DictRow],
        stored_events: Sequence[StoredEvent],
        notification_ids: Sequence[int],
        check: HeadCheck | None = None,
    ) -> None:
        """Hash the new events onto the chain; the event store's table lock is held here."""
        row = self._chain_head_row(check)
        previous = bytes(row["hash"]) if row and row["hash"] is not None else GENESIS
        links = list(
            chain(
                previous,
                (
                    (position, _uuid(e.originator_id), e.originator_version, e.topic, e.state)
                    for position, e in zip(notification_ids, stored_events, strict=True)
                ),
            )
        )
        # No sync of its own: positions are new and taken under the lock, so this cannot conflict,
        # and the commit's round trip carries it.
        curs.execute(self._insert_hashes, ([p for p, _ in links], [h for _, h in links]))

    def _chain_head_row(self, check: HeadCheck | None) -> DictRow | None:
        """The ledger's head and last hash, read under the lock before the insert; raises
        ``HeadMoved`` if the head is not where a strict ``check`` expects it."""
        head, self._chain_head.cursor = self._chain_head.cursor, None
        if head is None:
            raise RuntimeError("the chain's head is read with the insert, under the lock")
        with head:
            row: DictRow | None = head.fetchone()
        if check is not None:
            check.see((row["head"] or 0) if row else 0)
        return row

    def changed_since(self, position: int | None) -> tuple[int, dict[UUID, int]]:
        """The ledger's last position, and the newest version of each stream written after ``position``
        (nothing when ``position`` is None: a first look)."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            if position is None:
                row = curs.execute(self._head).fetchone()
                return (row["head"] if row else 0), {}
            changed: dict[UUID, int] = {}
            while True:
                rows = curs.execute(self._changed, (position, CHANGED_PAGE), prepare=True).fetchall()
                for row in rows:
                    changed[row["originator_id"]] = max(changed.get(row["originator_id"], 0), row["version"])
                position = max((row["last"] for row in rows), default=position)
                if sum(row["events"] for row in rows) < CHANGED_PAGE:
                    return position, changed

    def select_latest(self, table: str, ids: Sequence[UUID]) -> list[StoredEvent]:
        """The newest row of each stream in ``table`` (the snapshots table), in one query."""
        statement = self._latest.get(table)
        if statement is None:
            statement = self._latest[table] = (
                SQL(
                    "SELECT DISTINCT ON (originator_id) originator_id, originator_version, topic, state FROM {}"
                    " WHERE originator_id = ANY(%b) ORDER BY originator_id, originator_version DESC"
                )
                .format(Identifier(self.datastore.schema, table))
                .as_bytes()
            )
        return self._stored(statement, (list(ids),))

    def select_after(self, after: Mapping[UUID, int]) -> list[StoredEvent]:
        """Every event of each stream after the given version, in one query, each stream in order."""
        if not after:
            return []
        return self._stored(self._after, (list(after), list(after.values())))

    def _stored(self, statement: bytes, params: tuple[Any, ...]) -> list[StoredEvent]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, params, prepare=True, binary=True)
            return [
                StoredEvent(row["originator_id"], row["originator_version"], row["topic"], bytes(row["state"]))
                for row in curs.fetchall()
            ]

    def find_result(self, scope: str, key: str) -> StoredResult | None:
        return self.find_results([(scope, key)]).get((scope, key))

    def find_results(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], StoredResult]:
        """The stored results of these (scope, key) pairs, in one query: an import whose every line
        carries a key would otherwise ask once per line."""
        if not keys:
            return {}
        scopes, names = zip(*keys, strict=True)
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._select_idempotency, (list(scopes), list(names)))
            rows = curs.fetchall()
        return {(row["scope"], row["key"]): StoredResult(row["request_hash"], row["result"]) for row in rows}


def _without_jit(datastore: PostgresDatastore) -> None:
    """Turn PostgreSQL's JIT compiler off on the ledger's connections.

    A group commit's inserts carry thousands of rows, so their estimated cost passes
    ``jit_above_cost`` and the server compiled them on every batch: a fifth of its CPU in a
    bulk import went to LLVM, for statements that run in milliseconds. Without it the import
    took 96 s instead of 111 s, and the server's CPU fell from 56 s to 34 s."""
    kwargs = datastore.pool.kwargs
    if isinstance(kwargs, dict):
        kwargs["options"] = " ".join(filter(None, (kwargs.get("options"), "-c jit=off")))


def time_index_ddl(schema: str) -> list[Composed]:
    times = Identifier(schema, "event_times")
    return [
        SQL(
            "CREATE TABLE IF NOT EXISTS {} (originator_id uuid NOT NULL, originator_version bigint NOT NULL,"
            " occurred_at timestamptz NOT NULL, recorded_at timestamptz NOT NULL, out_of_order boolean NOT NULL)"
        ).format(times),
        *(
            SQL("CREATE INDEX IF NOT EXISTS {} ON {} (originator_id, {}, originator_version)").format(
                Identifier(f"event_times_{field}"), times, Identifier(field)
            )
            for field in ("occurred_at", "recorded_at")
        ),
        SQL(
            "CREATE INDEX IF NOT EXISTS event_times_out_of_order ON {} (originator_id, originator_version)"
            " WHERE out_of_order"
        ).format(times),
    ]


def upgrade_time_index(cur: Cursor[Any], schema: str) -> None:
    """Ledgers from before ``out_of_order``: add the column, worked out from the rows there;
    and drop the key they had on (stream, version)."""
    times = Identifier(schema, "event_times")
    # The events' own key already makes (stream, version) unique in the same transaction; this
    # one only cost a third index on every event written. Dropped only where it exists, since
    # even a no-op ALTER TABLE would lock the table against writers.
    cur.execute(
        "SELECT 1 FROM pg_constraint WHERE conname = 'event_times_pkey' AND connamespace = %s::regnamespace",
        (schema,),
    )
    if cur.fetchone() is not None:
        cur.execute(SQL("ALTER TABLE {} DROP CONSTRAINT event_times_pkey").format(times))
    cur.execute(
        "SELECT 1 FROM information_schema.columns WHERE table_schema = %s AND table_name = 'event_times'"
        " AND column_name IN ('occurred_at', 'out_of_order')",
        (schema,),
    )
    if len(cur.fetchall()) != 1:  # no table yet, or already upgraded
        return
    cur.execute(SQL("ALTER TABLE {} ADD COLUMN out_of_order boolean").format(times))
    cur.execute(
        SQL(
            "UPDATE {times} t SET out_of_order = o.out_of_order FROM (SELECT originator_id, originator_version,"
            " coalesce(occurred_at < max(occurred_at) OVER w, false)"
            " OR coalesce(recorded_at < max(recorded_at) OVER w, false) AS out_of_order FROM {times}"
            " WINDOW w AS (PARTITION BY originator_id ORDER BY originator_version"
            " ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)) o"
            " WHERE (t.originator_id, t.originator_version) = (o.originator_id, o.originator_version)"
        ).format(times=times)
    )
    cur.execute(SQL("ALTER TABLE {} ALTER COLUMN out_of_order SET NOT NULL").format(times))


def _version_at(times: Identifier, field: str, stream: Placeholder, moment: Placeholder) -> Composed:
    """The last version of a stream whose business (``occurred_at``) or recorded time is <= moment:
    the latest event by that time, or a later one that went in out of order, in two index lookups."""
    return SQL(
        "greatest((SELECT originator_version FROM {times} WHERE originator_id = {id} AND {field} <= {at}"
        " ORDER BY {field} DESC, originator_version DESC LIMIT 1),"
        " (SELECT max(originator_version) FROM {times} WHERE originator_id = {id} AND out_of_order"
        " AND {field} <= {at}))"
    ).format(times=times, field=Identifier(field), id=stream, at=moment)


def _uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(value)


class MemoryLedgerRecorder(POPOApplicationRecorder):
    """The same contract in memory, for unit tests without I/O."""

    def __init__(self) -> None:
        super().__init__()
        self._results: dict[tuple[str, str], StoredResult] = {}
        self._times: dict[UUID, list[EventTime]] = {}

    def changed_since(self, position: int | None) -> tuple[int, dict[UUID, int]]:
        notifications = self.select_notifications(start=(position or 0) + 1, limit=10**9)
        changed: dict[UUID, int] = {}
        for n in notifications:
            stream = _uuid(n.originator_id)
            changed[stream] = max(changed.get(stream, 0), n.originator_version)
        last = notifications[-1].id if notifications else (position or 0)
        return last, ({} if position is None else changed)

    def _insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        records: Sequence[IdempotencyRecord] = kwargs.get("idempotency") or ()
        check: HeadCheck | None = kwargs.get("head")
        with self._database_lock:
            if check is not None:
                check.see(len(self._stored_events))
            keys = [(r.scope, r.key) for r in records]
            if len(set(keys)) != len(keys) or any(k in self._results for k in keys):
                raise IntegrityError("an idempotency key is already recorded")
            notification_ids = super()._insert_events(stored_events, **kwargs)
            for time in kwargs.get("times") or []:
                self._times.setdefault(time[0], []).append(time)
            for record in records:
                result = json.loads(json.dumps(record.stored(notification_ids)))
                self._results[(record.scope, record.key)] = StoredResult(record.request_hash, result)
            return notification_ids

    def find_result(self, scope: str, key: str) -> StoredResult | None:
        return self.find_results([(scope, key)]).get((scope, key))

    def find_results(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], StoredResult]:
        with self._database_lock:
            return {k: self._results[k] for k in keys if k in self._results}

    def version_at(self, stream_id: UUID, field: str, moment: datetime) -> int | None:
        business = field == "occurred_at"
        with self._database_lock:
            versions = [
                v
                for _, v, occurred, recorded in self._times.get(stream_id, [])
                if (occurred if business else recorded) <= moment
            ]
        return max(versions, default=None)
