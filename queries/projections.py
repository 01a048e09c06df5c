"""Projection positions, and waiting for a read model to reach a ledger position."""

from __future__ import annotations

from typing import Any

from psycopg import Connection, errors, sql

from commands.eventstore.names import read_table
from projections.admin import statuses
from projections.runner import wait_for
from queries.models import ProjectionStatus

POSITIONS = read_table("projection_positions")


def projection_statuses(conn: Connection[Any], names: list[str]) -> list[ProjectionStatus]:
    return [
        ProjectionStatus(name=s.name, position=s.position, head=s.head, lag=s.lag, updated_at=s.updated_at)
        for s in statuses(conn, names)
    ]


def wait_for_position(conn: Connection[Any], name: str, position: int, timeout: float) -> bool:
    """Whether projection ``name`` reached ``position`` within ``timeout`` seconds."""
    query = sql.SQL("SELECT position FROM {} WHERE name = %s").format(POSITIONS)

    def reached() -> bool:
        try:
            row = conn.execute(query, (name,)).fetchone()
        except errors.UndefinedTable:  # a standby that has not replayed the migration yet
            row = None
        if row is not None and row[0] >= position:
            return True
        # Hold no transaction while waiting: on a standby its locks would stop the replay it waits
        # for (a replayed DDL waits up to max_standby_streaming_delay for them). The route has
        # read nothing yet, so nothing is lost.
        conn.rollback()
        return False

    return wait_for(reached, timeout, interval=0.02)
