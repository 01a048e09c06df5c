"""The one place the event store reaches below the eventsourcing library's documented surface.

The store writes its batches itself (one transaction, arrays in binary, the chain and time index
under the same lock), so it must take the same table lock and send the same notification as the
library's own insert: the lock makes commit order equal position order for the library's readers,
and the notification wakes its subscribers. Both come from the recorder's attributes, not copied
here; ``tests/integration/test_library_contract.py`` fails if the library changes either."""

from __future__ import annotations

from typing import Any

from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg.conninfo import conninfo_to_dict
from psycopg.sql import SQL, Composed, Identifier


def lock_statements(recorder: PostgresApplicationRecorder) -> list[Any]:
    """``SET LOCAL lock_timeout`` and ``LOCK TABLE ... IN EXCLUSIVE MODE``, as the library runs them."""
    return list(recorder.lock_table_statements)


def notify_statement(recorder: PostgresApplicationRecorder) -> Composed:
    """The notification the library's insert sends on its channel."""
    return SQL("NOTIFY {}").format(Identifier(recorder.channel_name))


def without_jit(datastore: PostgresDatastore) -> None:
    """Turn PostgreSQL's JIT compiler off on the ledger's connections (before the pool opens).

    A group commit's inserts carry thousands of rows, so their estimated cost passes
    ``jit_above_cost`` and the server compiled them on every batch: a fifth of its CPU in a
    bulk import went to LLVM, for statements that run in milliseconds. Without it the import
    took 96 s instead of 111 s, and the server's CPU fell from 56 s to 34 s."""
    kwargs = datastore.pool.kwargs
    if isinstance(kwargs, dict):
        kwargs["options"] = " ".join(filter(None, (kwargs.get("options"), "-c jit=off")))


# Connection parameters the library's settings have no name for, taken from the ledger's URL:
# several hosts and ``target_session_attrs`` (to find the primary after a failover), TLS, and
# the rest of what libpq takes. The library's own (dbname, host, port, user, password) stay.
CONNINFO = "POSTGRES_CONNINFO"


def connect_as(datastore: PostgresDatastore, conninfo: str | None) -> None:
    """Give the library's pool every parameter of ``conninfo`` (before the pool opens)."""
    if not conninfo:
        return
    kwargs = datastore.pool.kwargs
    if isinstance(kwargs, dict):
        for key, value in conninfo_to_dict(conninfo).items():
            if value is not None:
                kwargs[key] = value
