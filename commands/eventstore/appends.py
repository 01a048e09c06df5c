"""The one writer's append: a batch whose positions and chain are known before it is sent.

The writer that trusts its cache also knows the ledger's head and its last hash: it wrote them.
So it numbers the batch's events itself (head + 1, head + 2, ...), hashes them onto the chain,
and sends the whole transaction at once, in one round trip: the table lock, the notification,
``ledger.expect_head`` (which fails the transaction if anyone else wrote since, so the numbers
are free and the chain continues where the writer thinks), then one statement for the events,
their chain rows and time index, then the idempotency records and snapshots, then the commit.
The event sequence is moved past the batch in the same statement, for writers that take their
positions from it (the library's own insert, a writer that does not trust its cache).

Anything else (a writer that looked for other writers' events, or does not know the head) takes
the general path in ``commands.eventstore.postgres``, which reads the head under the lock first."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, NamedTuple

from eventsourcing.persistence import StoredEvent
from psycopg import Cursor
from psycopg.sql import SQL, Composed, Identifier, Literal

from commands.chain import chain
from commands.eventstore import arrays, snapshots, time_index
from commands.eventstore.batch import IdempotencyRecord, WriteBatch, as_uuid
from commands.eventstore.idempotency import TABLE as IDEMPOTENCY_TABLE
from commands.eventstore.names import EVENT_HASHES, EVENTS, LEDGER_SCHEMA, ledger_table
from commands.seals import Seals

# The function that fails a transaction whose writer's head is not the ledger's (migration 12).
EXPECT_HEAD = Identifier(LEDGER_SCHEMA, "expect_head")
# Its message, and the head it saw in the error's detail.
HEAD_MOVED = "the ledger's head moved"


def expect_head_ddl() -> Composed:
    """``ledger.expect_head(expected)``: nothing if the ledger's last position is ``expected``;
    otherwise an error (SQLSTATE P0001) whose detail is the last position."""
    return SQL(
        "CREATE OR REPLACE FUNCTION {function}(expected bigint) RETURNS void LANGUAGE plpgsql AS $$"
        " DECLARE head bigint;"
        " BEGIN"
        " SELECT coalesce(max(notification_id), 0) INTO head FROM {events};"
        " IF head <> expected THEN"
        " RAISE EXCEPTION USING MESSAGE = {message}, DETAIL = head::text;"
        " END IF;"
        " END $$"
    ).format(function=EXPECT_HEAD, events=ledger_table(EVENTS), message=Literal(HEAD_MOVED))


class Tail(NamedTuple):
    """The ledger's last position and chain hash, as this writer last saved them."""

    position: int
    hash: bytes


EXPECT = SQL("SELECT {}(%s)").format(EXPECT_HEAD).as_bytes()

# The time index's rows (as ``time_index.INSERT`` writes them, taking the events' streams and
# versions rather than sending them twice): what the window over the batch worked out there comes
# from ``time_index.earlier_in_batch``, and only the streams that had events are looked up.
APPEND = (
    SQL(
        "WITH e AS (INSERT INTO {events} (notification_id, originator_id, originator_version, topic, state)"
        " SELECT * FROM unnest(%(positions)b::bigint[], %(ids)b::uuid[], %(versions)b::bigint[],"
        " %(topics)b::text[], %(states)b::bytea[])),"
        " c AS (INSERT INTO {hashes} (notification_id, hash, seal)"
        " SELECT * FROM unnest(%(positions)b::bigint[], %(hashes)b::bytea[], %(seals)b::bytea[])),"
        " u AS (SELECT * FROM unnest(%(ids)b::uuid[], %(versions)b::bigint[], %(occurred)b::timestamptz[],"
        " %(recorded)b::timestamptz[], %(occurred_before)b::timestamptz[], %(recorded_before)b::timestamptz[])"
        " AS u(id, version, occurred, recorded, occurred_before, recorded_before)),"
        " p AS (SELECT k.id, m.occurred, m.recorded FROM unnest(%(existing)b::uuid[]) AS k(id)"
        " CROSS JOIN LATERAL (SELECT max(occurred_at) AS occurred, max(recorded_at) AS recorded FROM {times_table}"
        " WHERE originator_id = k.id) m),"
        " t AS (INSERT INTO {times_table} SELECT u.id, u.version, u.occurred, u.recorded,"
        " coalesce(u.occurred < greatest(u.occurred_before, p.occurred), false)"
        " OR coalesce(u.recorded < greatest(u.recorded_before, p.recorded), false)"
        " FROM u LEFT JOIN p USING (id))"
        " SELECT setval(s.seq, greatest(%(last)b::bigint, coalesce(pg_sequence_last_value(s.seq), 0)))"
        " FROM (SELECT pg_get_serial_sequence({table}, 'notification_id')::regclass AS seq) s"
    )
    .format(
        events=ledger_table(EVENTS),
        hashes=ledger_table(EVENT_HASHES),
        times_table=time_index.TABLE,
        table=Literal(f"{LEDGER_SCHEMA}.{EVENTS}"),
    )
    .as_bytes()
)
INSERT_IDEMPOTENCY = (
    SQL(
        "INSERT INTO {} (scope, key, request_hash, result, digest)"
        " SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], %b::jsonb[], %b::bytea[])"
    )
    .format(IDEMPOTENCY_TABLE)
    .as_bytes()
)


def append(
    curs: Cursor[Any], tail: Tail, batch: WriteBatch, seals: Seals, insert_snapshots: bytes | None
) -> tuple[list[int], list[tuple[int, bytes]]]:
    """Send the batch's statements after the lock (none is waited for); the positions and chain links."""
    events = batch.events
    positions = list(range(tail.position + 1, tail.position + 1 + len(events)))
    links = list(chain(tail.hash, _stored(events, positions)))
    sealed: list[bytes | None] = [None] * (len(links) - 1) + [seals.batch(*links[-1])]
    curs.execute(EXPECT, (tail.position,))
    arrays.register(curs.adapters)
    occurred, recorded = zip(*((t.occurred_at, t.recorded_at) for t in batch.times), strict=True)
    occurred_before, recorded_before, existing = time_index.earlier_in_batch(batch.times)
    curs.execute(
        APPEND,
        {
            "positions": arrays.Bigints.of(positions),
            "ids": arrays.Uuids.of([as_uuid(e.originator_id) for e in events]),
            "versions": arrays.Bigints.of([e.originator_version for e in events]),
            "topics": arrays.Texts.of([e.topic for e in events]),
            "states": arrays.Byteas.of([e.state for e in events]),
            "hashes": arrays.Byteas.of([h for _, h in links]),
            "seals": arrays.Byteas.of(sealed),
            "occurred": arrays.Timestamps.of(occurred),
            "recorded": arrays.Timestamps.of(recorded),
            "occurred_before": arrays.Timestamps.of(occurred_before),
            "recorded_before": arrays.Timestamps.of(recorded_before),
            "existing": arrays.Uuids.of(existing),
            "last": positions[-1],
        },
        binary=True,
    )
    if batch.idempotency:
        curs.execute(INSERT_IDEMPOTENCY, idempotency_columns(batch.idempotency, positions, seals), binary=True)
    if batch.snapshots and insert_snapshots is not None:
        snapshots.insert(curs, insert_snapshots, batch, links, seals)
    return positions, links


def idempotency_columns(
    records: Sequence[IdempotencyRecord], positions: Sequence[int], seals: Seals
) -> list[list[Any]]:
    rows = []
    for r in records:
        result = r.stored(positions)
        seal = seals.idempotency(r.scope, r.key, r.request_hash, result)
        rows.append((r.scope, r.key, r.request_hash, json.dumps(result), seal))
    return [list(column) for column in zip(*rows, strict=True)]


def _stored(events: Sequence[StoredEvent], positions: Sequence[int]) -> list[tuple[int, Any, int, str, bytes]]:
    return [
        (position, as_uuid(e.originator_id), e.originator_version, e.topic, e.state)
        for position, e in zip(positions, events, strict=True)
    ]
