"""``oms db upgrade``: create schemas and tables, idempotently, one process at a time."""

from __future__ import annotations

import logging

import psycopg
from psycopg import sql

from api import keys
from api.database import LEDGER_SCHEMA, ledger_env
from commands.ledger import Ledger
from commands.store import upgrade_time_index
from projections.events import make_mapper
from projections.registry import create_read_schema

# An arbitrary, fixed key: every process that upgrades this database takes the same lock.
UPGRADE_LOCK_KEY = 7_305_118_402_001

log = logging.getLogger(__name__)


def upgrade(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (UPGRADE_LOCK_KEY,))
        try:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(LEDGER_SCHEMA)))
            with conn.transaction(), conn.cursor() as cur:
                upgrade_time_index(cur, LEDGER_SCHEMA)
            # The library knows its own DDL; constructing with CREATE_TABLE runs it.
            Ledger(env=ledger_env(url, pool_size=1, create_tables=True)).close()
            for statement in keys.DDL:
                conn.execute(statement)
            with conn.cursor() as cur:
                create_read_schema(cur, make_mapper())
            log.info("database schema is up to date")
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (UPGRADE_LOCK_KEY,))
