"""The hash chain's rows: read the head and add the batch's links, under the event table's lock.
The batch's last link carries the writer's seal (``commands.seals``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from psycopg import Cursor
from psycopg.sql import SQL

from commands.chain import GENESIS, chain
from commands.eventstore.batch import as_uuid
from commands.eventstore.names import EVENT_HASHES, EVENTS, ledger_table
from commands.seals import Seals

HEAD = (
    SQL(
        "SELECT (SELECT max(notification_id) FROM {}) AS head,"
        " (SELECT hash FROM {} ORDER BY notification_id DESC LIMIT 1) AS hash"
    )
    .format(ledger_table(EVENTS), ledger_table(EVENT_HASHES))
    .as_bytes()
)
INSERT = (
    SQL("INSERT INTO {} (notification_id, hash, seal) SELECT * FROM unnest(%b::bigint[], %b::bytea[], %b::bytea[])")
    .format(ledger_table(EVENT_HASHES))
    .as_bytes()
)


def insert(
    curs: Cursor[Any], previous: bytes | None, events: Sequence[StoredEvent], positions: Sequence[int], seals: Seals
) -> list[tuple[int, bytes]]:
    """Hash the new events onto the chain after ``previous`` (None: the chain is empty), seal the
    last link, and answer the links. No sync of its own: positions are new and taken under the
    lock, so this cannot conflict, and the commit's round trip carries it."""
    links = list(
        chain(
            previous or GENESIS,
            (
                (position, as_uuid(e.originator_id), e.originator_version, e.topic, e.state)
                for position, e in zip(positions, events, strict=True)
            ),
        )
    )
    last_position, last_hash = links[-1]
    sealed: list[bytes | None] = [None] * (len(links) - 1) + [seals.batch(last_position, last_hash)]
    curs.execute(INSERT, ([p for p, _ in links], [h for _, h in links], sealed))
    return links
