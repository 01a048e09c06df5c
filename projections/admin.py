"""Status and rebuilds of projections."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from commands.eventstore.names import EVENT_TIMES, EVENTS, LEDGER_SCHEMA, READ_SCHEMA
from projections.base import Projection, Tables
from projections.runner import POSITIONS, ProjectionRunner

REBUILD = "__rebuild"


@dataclass(frozen=True, slots=True)
class Status:
    name: str
    position: int
    head: int
    updated_at: datetime | None

    @property
    def lag(self) -> int:
        return self.head - self.position


def head(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute(
        sql.SQL("SELECT coalesce(max(notification_id), 0) FROM {}").format(sql.Identifier(LEDGER_SCHEMA, EVENTS))
    ).fetchone()
    return int(row[0]) if row else 0


def statuses(conn: psycopg.Connection[Any], names: list[str]) -> list[Status]:
    ledger_head = head(conn)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = {
            r["name"]: r
            for r in cur.execute(
                sql.SQL("SELECT name, position, updated_at FROM {} WHERE name = ANY(%s)").format(POSITIONS), (names,)
            ).fetchall()
        }
    return [
        Status(n, rows[n]["position"] if n in rows else 0, ledger_head, rows[n]["updated_at"] if n in rows else None)
        for n in names
    ]


@dataclass(frozen=True, slots=True)
class Lag:
    name: str
    position: int
    events: int
    seconds: float


def lags(conn: psycopg.Connection[Any], names: list[str]) -> list[Lag]:
    """Each projection's position, and how far behind the ledger's last event it is, in events and
    in recorded time (the ledger's clock when each was written)."""
    query = sql.SQL(
        "SELECT (SELECT extract(epoch FROM t.recorded_at) FROM {events} e JOIN {times} t"
        " USING (originator_id, originator_version) WHERE e.notification_id = %s)"
    ).format(events=sql.Identifier(LEDGER_SCHEMA, EVENTS), times=sql.Identifier(LEDGER_SCHEMA, EVENT_TIMES))

    def recorded(position: int) -> float | None:
        row = conn.execute(query, (position,)).fetchone() if position else None
        return float(row[0]) if row and row[0] is not None else None

    found: list[Lag] = []
    for status in statuses(conn, names):
        last, applied = recorded(status.head), recorded(status.position)
        since = applied if applied is not None else recorded(1)  # nothing applied: since the first event
        behind = 0.0 if status.lag == 0 or last is None else max(0.0, last - (since or last))
        found.append(Lag(status.name, status.position, status.lag, behind))
    return found


def rebuild(runner: ProjectionRunner, progress: Callable[[int, int], None] | None = None) -> int:
    """Rebuild into fresh tables while the live ones keep answering, then swap them in.

    The swap holds the live projection's position row, so its worker pauses; the
    rebuild catches up to the last event in the same transaction, and the tables
    and the position change together.
    """
    projection: Projection = runner.projection
    fresh = ProjectionRunner(
        projection, runner.url, runner.mapper, runner.batch_size, suffix=REBUILD, on_batch=progress
    )
    live, building = Tables(projection.tables), fresh.tables
    start_fresh(fresh)
    total = fresh.run_until_caught_up()
    with psycopg.connect(runner.url) as conn, conn.transaction(), conn.cursor() as cur:
        cur.execute(
            sql.SQL("INSERT INTO {} (name, position) VALUES (%s, 0) ON CONFLICT DO NOTHING").format(POSITIONS),
            (projection.name,),
        )
        cur.execute(sql.SQL("SELECT position FROM {} WHERE name = %s FOR UPDATE").format(POSITIONS), (projection.name,))
        while processed := fresh.process_batch(conn):
            total += processed
        for name in projection.tables:
            old = name + "__old"
            cur.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(live[name], sql.Identifier(old)))
            cur.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(building[name], sql.Identifier(name)))
            cur.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(READ_SCHEMA, old)))
            _rename_indexes(cur, name)
        cur.execute(
            sql.SQL(
                "UPDATE {} SET position = (SELECT position FROM {} WHERE name = %s), updated_at = now() WHERE name = %s"
            ).format(POSITIONS, POSITIONS),
            (fresh.position_name, projection.name),
        )
        cur.execute(sql.SQL("DELETE FROM {} WHERE name = %s").format(POSITIONS), (fresh.position_name,))
    return total


def drop(runner: ProjectionRunner) -> None:
    """Drop a runner's tables and forget its position."""
    with psycopg.connect(runner.url, autocommit=True) as conn, conn.cursor() as cur:
        for table in runner.tables.items().values():
            cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
        cur.execute(sql.SQL("DELETE FROM {} WHERE name = %s").format(POSITIONS), (runner.position_name,))


def start_fresh(runner: ProjectionRunner) -> None:
    """Empty tables and no position: the runner will project from the first event."""
    drop(runner)
    with psycopg.connect(runner.url, autocommit=True) as conn, conn.cursor() as cur:
        runner.projection.create(cur, runner.tables)


def _rename_indexes(cur: psycopg.Cursor[Any], table: str) -> None:
    """Give the swapped-in table's indexes their live names, freeing the rebuild names."""
    rows = cur.execute(
        "SELECT indexname FROM pg_indexes WHERE schemaname = %s AND tablename = %s AND indexname LIKE %s",
        (READ_SCHEMA, table, f"%{REBUILD}%"),
    ).fetchall()
    for (index,) in rows:
        cur.execute(
            sql.SQL("ALTER INDEX {} RENAME TO {}").format(
                sql.Identifier(READ_SCHEMA, index), sql.Identifier(index.replace(REBUILD, ""))
            )
        )
