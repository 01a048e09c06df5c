"""Idempotency records: each keyed command's request hash and first answer, written with its events.

A second insert of the same key fails on the primary key inside the database, which aborts the
whole transaction, events included."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from psycopg import Cursor
from psycopg.sql import SQL

from commands.eventstore.batch import IdempotencyRecord, StoredResult
from commands.eventstore.names import IDEMPOTENCY_KEYS, ledger_table
from commands.seals import Kind, Rejected, Seals

TABLE = ledger_table(IDEMPOTENCY_KEYS)

INSERT = (
    SQL("INSERT INTO {} (scope, key, request_hash, result, digest) VALUES (%s, %s, %s, %s, %s)")
    .format(TABLE)
    .as_bytes()
)
SELECT = SQL(
    "SELECT t.scope, t.key, t.request_hash, t.result, t.digest FROM {} t"
    " JOIN unnest(%s::text[], %s::text[]) AS k(scope, key) USING (scope, key)"
).format(TABLE)


def insert(curs: Cursor[Any], records: Sequence[IdempotencyRecord], positions: Sequence[int], seals: Seals) -> None:
    """The records, each answering with its command's position, sealed. The nested pipeline syncs
    on exit, so a duplicate key raises here, and the transaction rolls back."""
    rows = []
    for r in records:
        result = r.stored(positions)
        rows.append(
            (
                r.scope,
                r.key,
                r.request_hash,
                json.dumps(result),
                seals.idempotency(r.scope, r.key, r.request_hash, result),
            )
        )
    with curs.connection.pipeline():
        curs.executemany(INSERT, rows)


def find(
    curs: Cursor[Any], keys: Sequence[tuple[str, str]], seals: Seals
) -> tuple[dict[tuple[str, str], StoredResult], list[Rejected]]:
    """The records under these keys; one whose seal does not check is answered as not ``sealed``
    (its command is refused, never run again) and reported."""
    if not keys:
        return {}, []
    scopes, names = zip(*keys, strict=True)
    curs.execute(SELECT, (list(scopes), list(names)))
    found: dict[tuple[str, str], StoredResult] = {}
    rejected: list[Rejected] = []
    for row in curs.fetchall():
        scope, key, request_hash, result = row["scope"], row["key"], row["request_hash"], row["result"]
        digest = bytes(row["digest"]) if row["digest"] is not None else None
        problem = seals.idempotency_problem(scope, key, request_hash, result, digest)
        if problem is not None:
            rejected.append(Rejected(Kind.IDEMPOTENCY, f"{scope}/{key}", problem))
        found[(scope, key)] = StoredResult(request_hash, result, sealed=problem is None)
    return found, rejected
