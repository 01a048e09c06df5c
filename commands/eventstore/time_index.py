"""The time index: each event's business and recorded times, for as-of reads on either clock.

``out_of_order`` marks an event earlier, by either clock, than one before it in its stream: only
such events can be the answer after the latest time at or before a moment, so an as-of read is
two index lookups."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from psycopg.sql import SQL, Composed, Identifier, Placeholder

from commands.eventstore.batch import EventTime
from commands.eventstore.names import EVENT_TIMES, ledger_table

TABLE = ledger_table(EVENT_TIMES)

# The stream's latest times are looked up once per stream, and not for new streams.
INSERT = (
    SQL(
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
    .format(times=TABLE)
    .as_bytes()
)


def earlier_in_batch(
    times: Sequence[EventTime],
) -> tuple[list[datetime | None], list[datetime | None], list[UUID]]:
    """For each row, the latest business and recorded times of the rows before it of its stream in
    the batch (None for a stream's first); and the streams that had events before the batch."""
    latest: dict[UUID, tuple[datetime, datetime]] = {}
    existing: dict[UUID, None] = {}
    occurred: list[datetime | None] = []
    recorded: list[datetime | None] = []
    for t in times:
        found = latest.get(t.stream)
        if found is None:
            occurred.append(None)
            recorded.append(None)
            latest[t.stream] = (t.occurred_at, t.recorded_at)
            if t.version > 1:
                existing[t.stream] = None
        else:
            occurred.append(found[0])
            recorded.append(found[1])
            latest[t.stream] = (max(found[0], t.occurred_at), max(found[1], t.recorded_at))
    return occurred, recorded, list(existing)


def insert_params(times: Sequence[EventTime]) -> list[list[object]]:
    return [list(column) for column in zip(*times, strict=True)]


def version_at(field: str, stream: Placeholder, moment: Placeholder) -> Composed:
    """The last version of a stream whose business (``occurred_at``) or recorded time is <= moment:
    the latest event by that time, or a later one that went in out of order, in two index lookups."""
    return SQL(
        "greatest((SELECT originator_version FROM {times} WHERE originator_id = {id} AND {field} <= {at}"
        " ORDER BY {field} DESC, originator_version DESC LIMIT 1),"
        " (SELECT max(originator_version) FROM {times} WHERE originator_id = {id} AND out_of_order"
        " AND {field} <= {at}))"
    ).format(times=TABLE, field=Identifier(field), id=stream, at=moment)
