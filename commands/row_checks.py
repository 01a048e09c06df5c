"""The stored rows beside the events that the service reads to decide, checked against the events.

- Snapshots: each one's seal, and that the event it names has the chain hash it recorded.
- Idempotency records: each one's seal, and that the position it answers with holds an event.
- The time index: derived from the events (business time and recorded time are in every
  event's stored bytes), so it is compared with them, and ``out_of_order`` recomputed.

Each check answers how many rows failed and describes the first few.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from psycopg import Connection, sql
from psycopg.rows import dict_row

from commands.chain import Verification
from commands.eventstore import snapshots as snapshot_rows
from commands.eventstore.names import EVENT_HASHES, EVENT_TIMES, EVENTS, IDEMPOTENCY_KEYS, SNAPSHOTS, ledger_table
from commands.local_settings import local_settings
from commands.seals import Seals

Found = tuple[int, list[str]]

_SNAPSHOTS = sql.SQL(
    "SELECT s.originator_id, s.originator_version, s.topic, s.state, s.event_hash, s.seal, h.hash AS chain_hash"
    " FROM {snapshots} s LEFT JOIN {events} e"
    " ON e.originator_id = s.originator_id AND e.originator_version = s.originator_version"
    " LEFT JOIN {hashes} h ON h.notification_id = e.notification_id"
    " WHERE e.notification_id IS NULL OR e.notification_id > %(after)s ORDER BY s.originator_id, s.originator_version"
).format(snapshots=ledger_table(SNAPSHOTS), events=ledger_table(EVENTS), hashes=ledger_table(EVENT_HASHES))

_RECORDS = sql.SQL(
    "SELECT r.scope, r.key, r.request_hash, r.result, r.digest, (e.notification_id IS NOT NULL) AS has_event"
    " FROM {records} r LEFT JOIN {events} e ON e.notification_id = (r.result->>'position')::bigint"
    " WHERE e.notification_id IS NULL OR e.notification_id > %(after)s ORDER BY r.recorded_at, r.scope, r.key"
).format(records=ledger_table(IDEMPOTENCY_KEYS), events=ledger_table(EVENTS))

# The times as every event's stored bytes carry them (its JSON parsed once), against the index (a
# full join finds rows missing on either side), with out_of_order worked out again from the index
# itself: an event is out of order if an earlier version of its stream has a later time.
_EVENT_TIMES = sql.SQL(
    "SELECT x.originator_id, x.originator_version, (j.occurred_at->>'_data_')::timestamptz AS occurred,"
    " (j.\"timestamp\"->>'_data_')::timestamptz AS recorded FROM {events} x,"
    " json_to_record(convert_from(x.state, 'UTF8')::json) AS j(occurred_at json, \"timestamp\" json)"
    " WHERE x.notification_id > %(after)s"
).format(events=ledger_table(EVENTS))
_COMPARED = sql.SQL(
    "SELECT coalesce(e.originator_id, t.originator_id), coalesce(e.originator_version, t.originator_version),"
    " CASE WHEN t.originator_id IS NULL THEN 'missing from the index'"
    " WHEN e.originator_id IS NULL THEN 'indexed, but no such event'"
    " WHEN t.occurred_at IS DISTINCT FROM e.occurred THEN 'business time differs from the event''s'"
    " WHEN t.recorded_at IS DISTINCT FROM e.recorded THEN 'recorded time differs from the event''s'"
    " ELSE 'out_of_order is wrong' END"
    " FROM e FULL JOIN t ON t.originator_id = e.originator_id AND t.originator_version = e.originator_version"
    " WHERE t.originator_id IS NULL OR e.originator_id IS NULL"
    " OR t.occurred_at IS DISTINCT FROM e.occurred OR t.recorded_at IS DISTINCT FROM e.recorded"
    " OR t.out_of_order IS DISTINCT FROM t.derived"
)
_EARLIER = sql.SQL(
    "WINDOW w AS (PARTITION BY i.originator_id ORDER BY i.originator_version"
    " ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)"
)
_PARTS = {"times": ledger_table(EVENT_TIMES), "e": _EVENT_TIMES, "compared": _COMPARED, "earlier": _EARLIER}
_TIMES = sql.SQL(
    "WITH e AS NOT MATERIALIZED ({e}),"
    " t AS (SELECT i.originator_id, i.originator_version, i.occurred_at, i.recorded_at, i.out_of_order,"
    " coalesce(i.occurred_at < max(i.occurred_at) OVER w, false)"
    " OR coalesce(i.recorded_at < max(i.recorded_at) OVER w, false) AS derived FROM {times} i {earlier}) {compared}"
).format(**_PARTS)
# After a position: the events after it, and the index rows of their streams from the first
# version after it (a stream's versions grow with their positions), each against the latest
# times before that version.
_TIMES_AFTER = sql.SQL(
    "WITH e AS MATERIALIZED ({e}),"
    " f AS (SELECT originator_id, min(originator_version) AS v FROM e GROUP BY 1),"
    " before AS (SELECT f.originator_id, max(i.occurred_at) AS occurred, max(i.recorded_at) AS recorded"
    " FROM f JOIN {times} i ON i.originator_id = f.originator_id AND i.originator_version < f.v GROUP BY 1),"
    " t AS (SELECT i.originator_id, i.originator_version, i.occurred_at, i.recorded_at, i.out_of_order,"
    " coalesce(i.occurred_at < greatest(max(i.occurred_at) OVER w, b.occurred), false)"
    " OR coalesce(i.recorded_at < greatest(max(i.recorded_at) OVER w, b.recorded), false) AS derived"
    " FROM f JOIN {times} i ON i.originator_id = f.originator_id AND i.originator_version >= f.v"
    " LEFT JOIN before b ON b.originator_id = f.originator_id {earlier}) {compared}"
).format(**_PARTS)


def snapshots(conn: Connection[Any], seals: Seals, limit: int, after: int = 0) -> Found:
    total, listed = 0, list[str]()
    with conn.transaction(), conn.cursor(name="check_snapshots", row_factory=dict_row) as cur:
        cur.execute(_SNAPSHOTS, {"after": after})
        for found in cur:
            row = snapshot_rows.row(found)
            problem = seals.snapshot_problem(row)
            if problem is not None:
                total += 1
                if len(listed) < limit:
                    listed.append(f"snapshot {row.stream}@{row.version}: {problem}")
    return total, listed


def idempotency_records(conn: Connection[Any], seals: Seals, limit: int, after: int = 0) -> Found:
    total, listed = 0, list[str]()
    with conn.transaction(), conn.cursor(name="check_records") as cur:
        cur.execute(_RECORDS, {"after": after})
        for scope, key, request_hash, result, digest, has_event in cur:
            problem = seals.idempotency_problem(scope, key, request_hash, result, _bytes(digest))
            if problem is None and result.get("position") is not None and not has_event:
                problem = f"it answers with position {result['position']}, which holds no event"
            if problem is not None:
                total += 1
                if len(listed) < limit:
                    listed.append(f"idempotency record {scope}/{key}: {problem}")
    return total, listed


def time_index(conn: Connection[Any], limit: int, after: int = 0) -> Found:
    total, listed = 0, list[str]()
    # Compiling these expressions costs more than it saves.
    with conn.transaction(), local_settings(conn, {"jit": "off"}), conn.cursor(name="check_times") as cur:
        cur.execute(_TIMES_AFTER if after else _TIMES, {"after": after})
        for stream, version, problem in cur:
            total += 1
            if len(listed) < limit:
                listed.append(f"time index {stream}@{version}: {problem}")
    return total, listed


def with_rows_checked(
    conn: Connection[Any], result: Verification, seals: Seals | None, limit: int = 20, after: int = 0
) -> Verification:
    """The chain's verification with every check of the rows beside it; not ok if any row failed.
    Seals are checked only with ``seals`` (the writer's key). After a position (a verification
    from a checkpoint): the rows of the events after it, and those that name no event at all."""
    findings, notes = list(result.findings), list(result.notes)
    checks: list[tuple[str, Found]] = [("time-index rows", time_index(conn, limit, after))]
    if seals is not None:
        checks = [
            ("snapshots", snapshots(conn, seals, limit, after)),
            ("idempotency records", idempotency_records(conn, seals, limit, after)),
            *checks,
        ]
    else:
        notes.append("snapshot and idempotency-record seals were not checked (no ledger key)")
    for name, (total, listed) in checks:
        findings += listed
        if total > len(listed):
            findings.append(f"... and {total - len(listed)} more {name}")
    return replace(result, ok=result.ok and not findings, findings=findings, notes=notes)


def _bytes(value: Any) -> bytes | None:
    return bytes(value) if value is not None else None
