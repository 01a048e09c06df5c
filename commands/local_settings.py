"""PostgreSQL settings for the statements of one check, and put back afterwards.

``set_config(..., true)`` lasts until the end of the transaction; inside a caller's transaction
that would outlive the check, so the caller's values are set again when it ends.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from psycopg import Connection, pq

_SET = "SELECT pg_catalog.set_config(%s, %s, true)"


@contextmanager
def local_settings(conn: Connection[Any], values: Mapping[str, str]) -> Iterator[None]:
    """Within a transaction already begun: ``values`` set for the statements inside."""
    before = {name: _setting(conn, name) for name in values}
    for name, value in values.items():
        conn.execute(_SET, (name, value))
    try:
        yield
    finally:
        if conn.info.transaction_status == pq.TransactionStatus.INTRANS:
            for name, value in before.items():
                conn.execute(_SET, (name, value))


def _setting(conn: Connection[Any], name: str) -> str:
    row = conn.execute("SELECT pg_catalog.current_setting(%s)", (name,)).fetchone()
    return str(row[0]) if row else ""
