"""Reconcile: fold the ledger again into scratch tables and compare them with the live read model.

Both sides are brought to the same ledger position first. The fresh fold runs to the
head without any lock; then, holding the live projection's position row (its worker
waits), whichever side is behind catches up to the other, and every table is compared
row by row on its primary key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import psycopg
from psycopg import sql

from commands.eventstore.names import READ_SCHEMA
from projections.admin import drop, head, start_fresh
from projections.runner import POSITIONS, ProjectionRunner

RECONCILE = "__reconcile"
DiffKind = Literal["missing", "unexpected", "changed"]


@dataclass(frozen=True, slots=True)
class Difference:
    table: str
    key: dict[str, Any]
    kind: DiffKind  # missing: the fold has the row, the read model not; unexpected: the reverse
    # column -> (value from the fold, value in the read model), for changed rows
    columns: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    def describe(self) -> str:
        key = ", ".join(f"{k}={v}" for k, v in self.key.items())
        if self.kind != "changed":
            return f"{self.table} [{key}]: {self.kind} row"
        changes = "; ".join(f"{c}: expected {e!r}, found {f!r}" for c, (e, f) in self.columns.items())
        return f"{self.table} [{key}]: {changes}"


@dataclass(frozen=True, slots=True)
class Report:
    projection: str
    position: int
    folded: int  # events folded into the scratch tables
    total: int  # differences found; only the first few are listed
    differences: list[Difference]


def reconcile(runner: ProjectionRunner, limit: int = 100, progress: Callable[[int, int], None] | None = None) -> Report:
    projection = runner.projection
    fresh = ProjectionRunner(
        projection, runner.url, runner.mapper, runner.batch_size, suffix=RECONCILE, on_batch=progress
    )
    start_fresh(fresh)
    try:
        with psycopg.connect(runner.url) as conn:
            target = head(conn)
            folded = _fold(fresh, conn, target)
        with psycopg.connect(runner.url) as conn, conn.transaction(), conn.cursor() as cur:
            cur.execute(
                sql.SQL("INSERT INTO {} (name, position) VALUES (%s, 0) ON CONFLICT DO NOTHING").format(POSITIONS),
                (projection.name,),
            )
            live = _position(cur, projection.name, lock=True)
            ours = _position(cur, fresh.position_name)
            if live < ours:
                _fold(runner, conn, ours)  # what the live worker would do next anyway
            elif live > ours:
                folded += _fold(fresh, conn, live)
            position = max(live, ours)
            total, differences = 0, list[Difference]()
            for name in projection.tables:
                found, listed = _compare(cur, name, name + RECONCILE, limit - len(differences))
                total += found
                differences += listed
    finally:
        drop(fresh)
    return Report(projection.name, position, folded, total, differences)


def _fold(runner: ProjectionRunner, conn: psycopg.Connection[Any], upto: int) -> int:
    total = 0
    while processed := runner.process_batch(conn, upto):
        total += processed
    return total


def _position(cur: psycopg.Cursor[Any], name: str, lock: bool = False) -> int:
    query = sql.SQL("SELECT position FROM {} WHERE name = %s {}").format(
        POSITIONS, sql.SQL("FOR UPDATE" if lock else "")
    )
    row = cur.execute(query, (name,)).fetchone()
    return int(row[0]) if row else 0


def _compare(cur: psycopg.Cursor[Any], live: str, fresh: str, limit: int) -> tuple[int, list[Difference]]:
    keys = [
        r[0]
        for r in cur.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
            " AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary"
            " ORDER BY array_position(i.indkey, a.attnum)",
            (f"{READ_SCHEMA}.{live}",),
        ).fetchall()
    ]
    if not keys:
        raise ValueError(f"{live} has no primary key to compare rows by")
    joined = sql.SQL(" AND ").join(sql.SQL("f.{0} = l.{0}").format(sql.Identifier(k)) for k in keys)
    query = sql.SQL(
        "SELECT f.{first} IS NULL, l.{first} IS NULL, to_jsonb(f), to_jsonb(l) FROM {fresh} f FULL JOIN {live} l"
        " ON {joined} WHERE to_jsonb(f) IS DISTINCT FROM to_jsonb(l)"
    ).format(
        first=sql.Identifier(keys[0]),
        fresh=sql.Identifier(READ_SCHEMA, fresh),
        live=sql.Identifier(READ_SCHEMA, live),
        joined=joined,
    )
    total, listed = 0, list[Difference]()
    for no_fold, no_live, expected, found in cur.execute(query):
        total += 1
        if len(listed) >= limit:
            continue
        row = found if no_fold else expected
        key = {k: row[k] for k in keys}
        if no_fold:
            listed.append(Difference(live, key, "unexpected"))
        elif no_live:
            listed.append(Difference(live, key, "missing"))
        else:
            changed = {c: (expected.get(c), found.get(c)) for c in expected.keys() | found.keys()}
            columns = {c: pair for c, pair in sorted(changed.items()) if pair[0] != pair[1]}
            listed.append(Difference(live, key, "changed", columns))
    return total, listed
