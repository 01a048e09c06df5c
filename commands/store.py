"""Event-store recorders that keep each command's idempotency record with its events.

The record is written in the same transaction as the events, so a command either
leaves both or neither. A second insert of the same key fails on the primary key
inside the database, which aborts the whole transaction, events included.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.popo import POPOApplicationRecorder
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed, Identifier

from commands import keystore
from commands.chain import GENESIS, chain


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """A command's key, the hash of what it asked, and what it answered."""

    scope: str
    key: str
    request_hash: str
    result: dict[str, Any]


# (stream, version, business time, recorded time) of one event, indexed for as-of reads.
EventTime = tuple[UUID, int, datetime, datetime]


@dataclass(frozen=True, slots=True)
class StoredResult:
    request_hash: str
    result: dict[str, Any]


def with_position(result: dict[str, Any], notification_ids: Sequence[int] | None) -> dict[str, Any]:
    return {**result, "position": max(notification_ids) if notification_ids else None}


class PostgresLedgerRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
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
        self._insert_idempotency = SQL(
            "INSERT INTO {} (scope, key, request_hash, result) VALUES (%s, %s, %s, %s)"
        ).format(table)
        hashes = Identifier(self.datastore.schema, "event_hashes")
        self.sql_create_statements.append(
            SQL("CREATE TABLE IF NOT EXISTS {} (notification_id bigint PRIMARY KEY, hash bytea NOT NULL)").format(
                hashes
            )
        )
        times = Identifier(self.datastore.schema, "event_times")
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {} (originator_id uuid NOT NULL, originator_version bigint NOT NULL,"
                " occurred_at timestamptz NOT NULL, recorded_at timestamptz NOT NULL,"
                " PRIMARY KEY (originator_id, originator_version))"
            ).format(times)
        )
        self._insert_times = SQL(
            "INSERT INTO {} SELECT * FROM unnest(%s::uuid[], %s::bigint[], %s::timestamptz[], %s::timestamptz[])"
        ).format(times)
        self._version_at = {
            field: SQL("SELECT max(originator_version) FROM {} WHERE originator_id = %s AND {} <= %s").format(
                times, Identifier(field)
            )
            for field in ("occurred_at", "recorded_at")
        }
        self._last_hash = SQL("SELECT hash FROM {} ORDER BY notification_id DESC LIMIT 1").format(hashes)
        self._insert_hashes = SQL(
            "INSERT INTO {} (notification_id, hash) SELECT * FROM unnest(%s::bigint[], %s::bytea[])"
        ).format(hashes)
        self.sql_create_statements.extend(keystore.ddl(self.datastore.schema))
        self._select_idempotency = SQL("SELECT request_hash, result FROM {} WHERE scope = %s AND key = %s").format(
            table
        )

    def _fetch_ids_after_insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        notification_ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        if notification_ids:
            self._extend_chain(curs, stored_events, notification_ids)
        record: IdempotencyRecord | None = kwargs.get("idempotency")
        if record is not None:
            result = with_position(record.result, notification_ids)
            # The nested pipeline syncs on exit, so a duplicate key raises here,
            # inside the library's error handling, and the transaction rolls back.
            with curs.connection.pipeline():
                curs.execute(
                    self._insert_idempotency,
                    (record.scope, record.key, record.request_hash, json.dumps(result)),
                )
        return notification_ids

    def _insert_events(self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        times: list[EventTime] | None = kwargs.get("times")
        if times:
            curs.execute(self._insert_times, [list(column) for column in zip(*times, strict=True)])
        super()._insert_events(curs, stored_events, **kwargs)

    def version_at(self, stream_id: UUID, field: str, moment: datetime) -> int | None:
        """The last version of a stream whose business (``occurred_at``) or recorded time is <= moment."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            row = curs.execute(self._version_at[field], (stream_id, moment)).fetchone()
        return None if row is None else row["max"]

    def _extend_chain(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], notification_ids: Sequence[int]
    ) -> None:
        """Hash the new events onto the chain; the event store's table lock is held here."""
        row = curs.execute(self._last_hash).fetchone()
        previous = bytes(row["hash"]) if row else GENESIS
        links = list(
            chain(
                previous,
                (
                    (position, _uuid(e.originator_id), e.originator_version, e.topic, e.state)
                    for position, e in zip(notification_ids, stored_events, strict=True)
                ),
            )
        )
        with curs.connection.pipeline():
            curs.execute(self._insert_hashes, ([p for p, _ in links], [h for _, h in links]))

    def select_latest(self, table: str, ids: Sequence[UUID]) -> list[StoredEvent]:
        """The newest row of each stream in ``table`` (the snapshots table), in one query."""
        statement = SQL(
            "SELECT DISTINCT ON (originator_id) originator_id, originator_version, topic, state FROM {}"
            " WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version DESC"
        ).format(Identifier(self.datastore.schema, table))
        return self._stored(statement, (list(ids),))

    def select_after(self, after: Mapping[UUID, int]) -> list[StoredEvent]:
        """Every event of each stream after the given version, in one query, each stream in order."""
        if not after:
            return []
        statement = SQL(
            # LATERAL keeps each stream an index range scan; a plain join lets the
            # planner hash-join against the whole table.
            "SELECT e.originator_id, e.originator_version, e.topic, e.state"
            " FROM unnest(%s::uuid[], %s::bigint[]) AS k(id, after)"
            " CROSS JOIN LATERAL (SELECT * FROM {} s WHERE s.originator_id = k.id"
            " AND s.originator_version > k.after ORDER BY s.originator_version) e"
        ).format(Identifier(self.datastore.schema, self.events_table_name))
        return self._stored(statement, (list(after), list(after.values())))

    def _stored(self, statement: Composed, params: tuple[Any, ...]) -> list[StoredEvent]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, params, prepare=True)
            return [
                StoredEvent(row["originator_id"], row["originator_version"], row["topic"], bytes(row["state"]))
                for row in curs.fetchall()
            ]

    def find_result(self, scope: str, key: str) -> StoredResult | None:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._select_idempotency, (scope, key))
            row = curs.fetchone()
        return None if row is None else StoredResult(row["request_hash"], row["result"])


def _uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(value)


class MemoryLedgerRecorder(POPOApplicationRecorder):
    """The same contract in memory, for unit tests without I/O."""

    def __init__(self) -> None:
        super().__init__()
        self._results: dict[tuple[str, str], StoredResult] = {}
        self._times: dict[UUID, list[EventTime]] = {}

    def _insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        record: IdempotencyRecord | None = kwargs.get("idempotency")
        with self._database_lock:
            if record is not None and (record.scope, record.key) in self._results:
                raise IntegrityError(f"idempotency key {record.key!r} is already recorded")
            notification_ids = super()._insert_events(stored_events, **kwargs)
            for time in kwargs.get("times") or []:
                self._times.setdefault(time[0], []).append(time)
            if record is not None:
                result = json.loads(json.dumps(with_position(record.result, notification_ids)))
                self._results[(record.scope, record.key)] = StoredResult(record.request_hash, result)
            return notification_ids

    def find_result(self, scope: str, key: str) -> StoredResult | None:
        with self._database_lock:
            return self._results.get((scope, key))

    def version_at(self, stream_id: UUID, field: str, moment: datetime) -> int | None:
        business = field == "occurred_at"
        with self._database_lock:
            versions = [
                v
                for _, v, occurred, recorded in self._times.get(stream_id, [])
                if (occurred if business else recorded) <= moment
            ]
        return max(versions, default=None)
