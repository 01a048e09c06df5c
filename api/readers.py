"""A read-only database role for BI tools: schema ``read`` and nothing else.

``oms db grant-reader ROLE`` creates the role (or updates it), lets it log in, connect to this
database and read every table of ``read`` (also those a rebuild makes later, by default
privileges), makes its sessions read-only, and takes away anything it had on ``ledger``: the
events, keys, secrets and outboxes stay out of its sight.
"""

from __future__ import annotations

import re

import psycopg
from psycopg import sql

from commands.eventstore.names import LEDGER_SCHEMA, READ_SCHEMA

_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class BadRoleName(ValueError):
    pass


def grant_reader(url: str, role: str, password: str | None = None) -> None:
    if not _NAME.match(role) or role.startswith("pg_"):
        raise BadRoleName(f"{role!r} is not a plain role name (lower case letters, digits and _, not pg_...)")
    who = sql.Identifier(role)
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        secret = sql.SQL(" PASSWORD {}").format(sql.Literal(password)) if password else sql.SQL("")
        verb = sql.SQL("ALTER ROLE") if exists else sql.SQL("CREATE ROLE")
        conn.execute(sql.SQL("{} {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE{}").format(verb, who, secret))
        conn.execute(sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(who))
        database = conn.execute("SELECT current_database()").fetchone()
        assert database is not None
        conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(database[0]), who))
        ledger, read = sql.Identifier(LEDGER_SCHEMA), sql.Identifier(READ_SCHEMA)
        conn.execute(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}").format(ledger, who))
        conn.execute(sql.SQL("REVOKE ALL ON SCHEMA {} FROM {}").format(ledger, who))
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(read, who))
        conn.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(read, who))
        conn.execute(sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT ON TABLES TO {}").format(read, who))
