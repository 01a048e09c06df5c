"""The stored chain verified: checked inside PostgreSQL, walked here when anything looks wrong.

The chain rule lets every event be checked on its own: its stored hash must be sha256 of the
stored hash before it and its own bytes. So PostgreSQL can recompute every hash from the stored
bytes in parallel workers, in any order, with its own ``sha256`` (the check pins
``search_path`` to ``pg_catalog``, so no function or operator a user defined takes part), and
add up the content digest's terms; this process checks the writer's seals (the key never leaves
it), the checkpoints and the published heads.

That check only ever says "ok" by itself. Whatever it finds wrong (a hash, a row missing on
either side, a seal, a checkpoint, a head) is walked again by ``chain.walk``, which names the
first broken position and its cause, exactly as a walk of every row here would. ``here=True``
walks every row here (an auditor who wants no hash computed by the database server).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from psycopg import Connection, pq, sql

from commands.chain import GENESIS, Expectation, Resume, Row, Verification, content_bytes, walk
from commands.eventstore.names import EVENT_HASHES, EVENTS, ledger_table
from commands.local_settings import local_settings
from commands.seals import Seals

# Positions per statement of the event check: its rows are held here at once (about 100 bytes each).
_RANGE = 250_000

_TABLES = {"events": ledger_table(EVENTS), "hashes": ledger_table(EVENT_HASHES)}

# What ``chain.event_hash`` and ``chain.content_hash`` hash, built from the stored columns.
_CONTENT = sql.SQL(
    "uuid_send(e.originator_id) || int8send(e.originator_version)"
    " || int8send(octet_length(convert_to(e.topic, 'UTF8'))) || convert_to(e.topic, 'UTF8')"
    " || int8send(octet_length(e.state)) || e.state"
)
_EVENT = sql.SQL("int8send(e.notification_id) || {}").format(_CONTENT)
_PARTS = {**_TABLES, "event": _EVENT, "content": _CONTENT}

_EVENT_COUNT = sql.SQL("SELECT count(*), max(notification_id) FROM {events} WHERE notification_id > %(after)s").format(
    **_TABLES
)

# The chain rows: how many, and each one whose position right before holds none (the first, and
# each after a gap), from the primary key alone.
_CHAIN_ROWS = sql.SQL(
    "SELECT count(*), coalesce(array_agg(n) FILTER (WHERE before IS DISTINCT FROM n - 1), '{{}}') FROM"
    " (SELECT notification_id n, lag(notification_id) OVER (ORDER BY notification_id) before FROM {hashes}"
    " WHERE notification_id > %(after)s) x"
).format(**_TABLES)

# Each event's hash recomputed from the chain row right before it (NULL after a gap: checked
# apart), and its content term: the stored bytes read once, in parallel workers.
_EVENTS = sql.SQL(
    "SELECT sha256(p.hash || {event}) = h.hash, sha256({content})"
    " FROM {events} e JOIN {hashes} h ON h.notification_id = e.notification_id"
    " LEFT JOIN {hashes} p ON p.notification_id = e.notification_id - 1 AND p.notification_id > %(after)s"
    " WHERE e.notification_id > %(from)s AND e.notification_id <= %(to)s"
).format(**_PARTS)

# The events after a gap, each against the chain row before it (or the start).
_AFTER_GAPS = sql.SQL(
    "SELECT count(*), count(*) FILTER (WHERE sha256(coalesce((SELECT p.hash FROM {hashes} p"
    " WHERE p.notification_id < e.notification_id AND p.notification_id > %(after)s"
    " ORDER BY p.notification_id DESC LIMIT 1), %(start)s) || {event}) IS DISTINCT FROM h.hash)"
    " FROM {events} e JOIN {hashes} h ON h.notification_id = e.notification_id"
    " WHERE e.notification_id = ANY(%(gaps)s)"
).format(**_PARTS)

_SEALED = sql.SQL(
    "SELECT notification_id, hash, seal FROM {hashes} WHERE notification_id > %(after)s AND seal IS NOT NULL"
    " ORDER BY notification_id"
).format(**_TABLES)

_HASH_AT = sql.SQL(
    "SELECT hash FROM {hashes} WHERE notification_id <= %(at)s AND notification_id > %(after)s"
    " ORDER BY notification_id DESC LIMIT 1"
).format(**_TABLES)

_COUNT_TO = sql.SQL(
    "SELECT count(*) FROM {events} WHERE notification_id > %(after)s AND notification_id <= %(at)s"
).format(**_TABLES)

_HAS_HASH = sql.SQL(
    "SELECT EXISTS (SELECT FROM {hashes} WHERE hash = %(hash)s AND notification_id > %(after)s)"
).format(**_TABLES)

_ANY_AFTER = sql.SQL("SELECT EXISTS (SELECT FROM {hashes} WHERE notification_id > %(at)s)").format(**_TABLES)

_ROWS = sql.SQL(
    "SELECT coalesce(e.notification_id, h.notification_id), e.originator_id, e.originator_version, e.topic,"
    " e.state, h.hash, h.seal FROM (SELECT * FROM {events} WHERE notification_id > %(after)s) e"
    " FULL OUTER JOIN (SELECT * FROM {hashes} WHERE notification_id > %(after)s) h"
    " ON h.notification_id = e.notification_id ORDER BY 1"
).format(**_TABLES)


def verify(
    conn: Connection[Any],
    expectations: Iterable[Expectation] = (),
    seals: Seals | None = None,
    start: Resume | None = None,
    here: bool = False,
) -> Verification:
    """Verify the stored chain (after ``start``, if given): the verdict of ``chain.walk`` over
    every stored row, in one snapshot of the ledger."""
    expected = list(expectations)
    with _snapshot(conn):
        if not here:
            found = _checked_in_database(conn, expected, seals, start)
            if found is not None:
                return found
        return walk(stored_rows(conn, start.position if start else 0), expected, seals, start)


def stored_rows(conn: Connection[Any], after: int = 0) -> Iterator[Row]:
    """Every event after a position with its chain row, in ledger order."""
    with conn.transaction(), conn.cursor(name="verify_chain") as cur:
        cur.itersize = 5000
        cur.execute(_ROWS, {"after": after})
        for position, stream_id, version, topic, state, stored, seal in cur:
            yield (
                position,
                stream_id,
                version,
                topic,
                bytes(state) if state is not None else None,
                bytes(stored) if stored is not None else None,
                bytes(seal) if seal is not None else None,
            )


# Settings of the check's statements: names resolved in pg_catalog only; no compiling, which costs
# more than it saves on these expressions; and small rows from workers, so that the planner hands
# the hashing to them rather than keep to one process.
_SETTINGS = {"search_path": "pg_catalog", "jit": "off", "parallel_tuple_cost": "0.01"}


@contextmanager
def _snapshot(conn: Connection[Any]) -> Iterator[None]:
    """One read-only snapshot for every statement of the check, with its settings; inside a
    caller's transaction, that transaction's snapshot, and its settings back afterwards."""
    idle = conn.info.transaction_status == pq.TransactionStatus.IDLE
    with conn.transaction():
        if idle:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        with local_settings(conn, _SETTINGS):
            yield


@dataclass(frozen=True, slots=True)
class _Prefix:
    """The chain as the walk would leave it: after ``start``, and after the events found."""

    after: int
    hash: bytes
    events: int
    content: int


def _checked_in_database(
    conn: Connection[Any], expectations: list[Expectation], seals: Seals | None, start: Resume | None
) -> Verification | None:
    """The walk's "ok" verdict when every check passes; None when any fails (then walk)."""
    base = _Prefix(start.position, start.hash, start.events, int.from_bytes(start.content, "big")) if start else None
    base = base or _Prefix(0, GENESIS, 0, 0)
    args: dict[str, Any] = {"after": base.after, "start": base.hash}
    events, last = _row(conn, _EVENT_COUNT, args)
    chained, gaps = _row(conn, _CHAIN_ROWS, args)
    if events != chained:
        return None  # an event without its chain row, or a chain row without its event
    checked, wrong = _row(conn, _AFTER_GAPS, {**args, "gaps": gaps})
    if wrong or checked != len(gaps):
        return None
    checkpoints = sorted({e.position for e in expectations if e.position is not None})
    sums = _events_hold(conn, base.after, last or base.after, checkpoints, gaps=len(gaps), events=events)
    if sums is None:
        return None
    total, up_to = sums
    for e in expectations:
        if e.position is not None and not _meets(conn, e, base, up_to[e.position], last):
            return None
        if e.position is None and not _head_found(conn, e, base, events):
            return None
    count = base.events + events
    held, sealed_through = _seals_hold(conn, seals, base, start is not None, count)
    if not held:
        return None
    return Verification(
        True,
        count,
        (_hash_at(conn, last, base) if last is not None else base.hash).hex() if count else None,
        position=last if last is not None else (start.position if start else None),
        content=content_bytes(base.content + total).hex(),
        sealed_through=sealed_through,
        notes=[] if seals is not None else ["the writer's seals were not checked (no ledger key)"],
    )


def _row(conn: Connection[Any], query: sql.Composed, args: dict[str, Any]) -> tuple[Any, ...]:
    row = conn.execute(query, args).fetchone()
    assert row is not None
    return tuple(row)


def _events_hold(
    conn: Connection[Any], after: int, last: int, checkpoints: list[int], *, gaps: int, events: int
) -> tuple[int, dict[int, int]] | None:
    """Every event's hash checked (those after a gap aside) and the sum of the content terms, of
    all and up to each checkpoint's position; None if a hash is wrong or an event unaccounted for."""
    # Ranges end at each checkpoint's position, so each sum up to one is a sum of whole ranges.
    ends = sorted({*(c for c in checkpoints if after < c < last), *range(after + _RANGE, last, _RANGE), last})
    total, seen, unchecked, up_to = 0, 0, 0, dict[int, int]()
    from_bytes = int.from_bytes
    begin = after
    for end in ends:
        rows = conn.execute(_EVENTS, {"after": after, "from": begin, "to": end}, binary=True).fetchall()
        for same, term in rows:
            if same is not True:
                if same is False:
                    return None
                unchecked += 1
            total += from_bytes(term, "big")
        seen += len(rows)
        up_to[end], begin = total, end
    if seen != events or unchecked != gaps:
        return None
    # A checkpoint at or before the start counts nothing after it; one past the end, everything.
    return total, {c: up_to.get(c, 0 if c <= after else total) for c in checkpoints}


def _hash_at(conn: Connection[Any], at: int, base: _Prefix) -> bytes:
    row = conn.execute(_HASH_AT, {"at": at, "after": base.after}).fetchone()
    return bytes(row[0]) if row is not None else base.hash


def _meets(conn: Connection[Any], e: Expectation, base: _Prefix, content: int, last: int | None) -> bool:
    at = e.position or 0
    if at < base.after or (last if last is not None else base.after) < at:
        return False  # before the trusted prefix, or past the end: the walk says which
    row = conn.execute(_COUNT_TO, {"at": at, "after": base.after}).fetchone()
    events = base.events + (int(row[0]) if row else 0)
    if e.events is not None and events != e.events:
        return False
    if e.content is not None and content_bytes(base.content + content) != e.content:
        return False
    return _hash_at(conn, at, base) == e.hash


def _head_found(conn: Connection[Any], e: Expectation, base: _Prefix, events: int) -> bool:
    row = conn.execute(_HAS_HASH, {"hash": e.hash, "after": base.after}).fetchone()
    return bool(row and row[0]) and (e.at_least is None or base.events + events >= e.at_least)


def _seals_hold(
    conn: Connection[Any], seals: Seals | None, base: _Prefix, resumed: bool, count: int
) -> tuple[bool, int | None]:
    """Whether the seals hold as the walk checks them, and the last sealed position."""
    last_seal = base.after if resumed else None
    if seals is None:
        return True, last_seal
    for position, chain_hash, seal in conn.execute(_SEALED, {"after": base.after}, binary=True):
        if not seals.batch_ok(position, bytes(chain_hash), bytes(seal)):
            return False, None
        last_seal = position
    if last_seal is None:
        return not count, None
    row = conn.execute(_ANY_AFTER, {"at": last_seal}).fetchone()
    return not (row and row[0]), last_seal
