"""Customers' tracking links: ``/track/{order_id}?t=<token>``, the token a keyed hash of the order id.

The key is random, made once per ledger by migration 11 and kept in the ledger schema; the
token opens one order's tracking page and nothing else, and cannot be made without the key.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import quote

from psycopg import Connection
from psycopg.sql import SQL, Composed

from commands.eventstore.names import TRACKING_KEY, ledger_table

TOKEN_CHARS = 32  # 128 bits of the HMAC, in hex
_TABLE = ledger_table(TRACKING_KEY)
_QUERY = SQL("SELECT secret FROM {} WHERE id = 1").format(_TABLE)


def tracking_key_ddl() -> list[Composed]:
    return [
        SQL("CREATE TABLE IF NOT EXISTS {} (id smallint PRIMARY KEY CHECK (id = 1), secret bytea NOT NULL)").format(
            _TABLE
        ),
        SQL("INSERT INTO {} VALUES (1, %(secret)s) ON CONFLICT (id) DO NOTHING").format(_TABLE),
    ]


def load_key(conn: Connection[Any]) -> bytes:
    row = conn.execute(_QUERY).fetchone()
    if row is None:
        raise RuntimeError("the tracking key is missing: run `oms db upgrade`")
    return bytes(row[0])


def token(key: bytes, order_id: str) -> str:
    return hmac.new(key, b"track:" + order_id.encode(), hashlib.sha256).hexdigest()[:TOKEN_CHARS]


def valid(key: bytes, order_id: str, given: str) -> bool:
    return hmac.compare_digest(token(key, order_id), given)


def link(base_url: str, key: bytes, order_id: str) -> str:
    return f"{base_url.rstrip('/')}/track/{quote(order_id, safe='')}?t={token(key, order_id)}"
