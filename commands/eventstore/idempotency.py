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

TABLE = ledger_table(IDEMPOTENCY_KEYS)

INSERT = SQL("INSERT INTO {} (scope, key, request_hash, result) VALUES (%s, %s, %s, %s)").format(TABLE).as_bytes()
SELECT = SQL(
    "SELECT t.scope, t.key, t.request_hash, t.result FROM {} t"
    " JOIN unnest(%s::text[], %s::text[]) AS k(scope, key) USING (scope, key)"
).format(TABLE)


def insert(curs: Cursor[Any], records: Sequence[IdempotencyRecord], positions: Sequence[int]) -> None:
    """The records, each answering with its command's position. The nested pipeline syncs on exit,
    so a duplicate key raises here, and the transaction rolls back."""
    with curs.connection.pipeline():
        curs.executemany(INSERT, [(r.scope, r.key, r.request_hash, json.dumps(r.stored(positions))) for r in records])


def find(curs: Cursor[Any], keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], StoredResult]:
    if not keys:
        return {}
    scopes, names = zip(*keys, strict=True)
    curs.execute(SELECT, (list(scopes), list(names)))
    return {(row["scope"], row["key"]): StoredResult(row["request_hash"], row["result"]) for row in curs.fetchall()}
