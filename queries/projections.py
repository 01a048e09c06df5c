"""Projection positions, and waiting for a read model to reach a ledger position."""

from __future__ import annotations

import time
from typing import Any

from psycopg import Connection, sql

from projections.admin import statuses
from queries.models import ProjectionStatus

POSITIONS = sql.Identifier("read", "projection_positions")


def projection_statuses(conn: Connection[Any], names: list[str]) -> list[ProjectionStatus]:
    return [
        ProjectionStatus(name=s.name, position=s.position, head=s.head, lag=s.lag, updated_at=s.updated_at)
        for s in statuses(conn, names)
    ]


def wait_for_position(conn: Connection[Any], name: str, position: int, timeout: float) -> bool:
    """Whether projection ``name`` reached ``position`` within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        row = conn.execute(sql.SQL("SELECT position FROM {} WHERE name = %s").format(POSITIONS), (name,)).fetchone()
        if row is not None and row[0] >= position:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
