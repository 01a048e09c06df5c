"""The ledger as NDJSON: every stored event, decoded, with its chain hash, in ledger order."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Mapper, StoredEvent
from psycopg import Connection, sql

from commands.eventstore.names import EVENT_HASHES, EVENTS, ledger_table


def export_lines(
    conn: Connection[Any], mapper: Mapper[UUID], after: int = 0, progress: Callable[[int], None] | None = None
) -> Iterator[str]:
    query = sql.SQL(
        "SELECT e.notification_id, e.originator_id, e.originator_version, e.topic, e.state, h.hash"
        " FROM {} e LEFT JOIN {} h USING (notification_id)"
        " WHERE e.notification_id > %s ORDER BY e.notification_id"
    ).format(ledger_table(EVENTS), ledger_table(EVENT_HASHES))
    with conn.transaction(), conn.cursor(name="export_ledger") as cur:
        cur.itersize = 5000
        cur.execute(query, (after,))
        for position, stream_id, version, topic, state, digest in cur:
            event = mapper.to_domain_event(StoredEvent(stream_id, version, topic, bytes(state)))
            fields = {k: v for k, v in vars(event).items() if k not in ("originator_id", "originator_version")}
            line = {
                "position": position,
                "stream_id": str(stream_id),
                "version": version,
                "type": topic.rsplit(":", 1)[-1],
                "hash": bytes(digest).hex() if digest else None,
                "event": fields,
            }
            if progress is not None:
                progress(position)
            yield json.dumps(line, default=str) + "\n"
