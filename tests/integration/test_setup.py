"""Schema upgrade, the embedded default, the CLI and the health routes."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api import upgrade as upgrade_module
from api.app import create_app
from api.bootstrap import build
from api.cli import cli
from api.database import ledger_env
from api.settings import Settings
from api.upgrade import MIGRATIONS, Migration, status, upgrade
from commands import messages as m
from commands.ledger import Ledger
from domain.stock import StockItem
from projections.admin import statuses
from projections.runner import wait_for
from tests.helpers import execute, item, receive, register

pytestmark = pytest.mark.postgres


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'ledger'").fetchall()
    return {row[0] for row in rows}


def test_upgrade_creates_the_ledger_tables_and_is_safe_to_repeat_concurrently(empty_pg_url: str) -> None:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            upgrade(empty_pg_url)
        except BaseException as error:  # noqa: BLE001 - collected for the assertion
            errors.append(error)

    workers = [threading.Thread(target=run) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    upgrade(empty_pg_url)
    assert {"ledger_events", "ledger_snapshots", "idempotency_keys"} <= tables(empty_pg_url)


def test_migrations_are_numbered_applied_once_in_order_and_listed(
    empty_pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert [m.number for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert all(m.applied_at is None for m in status(empty_pg_url))
    assert upgrade(empty_pg_url) == [m.number for m in MIGRATIONS]
    assert upgrade(empty_pg_url) == []  # nothing runs twice
    applied = status(empty_pg_url)
    assert all(m.applied_at is not None for m in applied)
    assert [m.applied_at for m in applied] == sorted(m.applied_at for m in applied if m.applied_at)
    # A migration added later runs once, after the others, and is listed as pending until then.
    ran: list[str] = []
    later = Migration(len(MIGRATIONS) + 1, "a later change", lambda conn, url: ran.append(url))
    monkeypatch.setattr(upgrade_module, "MIGRATIONS", (*MIGRATIONS, later))
    assert status(empty_pg_url)[-1].applied_at is None
    monkeypatch.setenv("OMS_DATABASE_URL", empty_pg_url)
    listed = CliRunner().invoke(cli, ["db", "status"])
    assert listed.exit_code == 0 and "1 pending" in listed.output and "a later change" in listed.output
    assert upgrade(empty_pg_url) == [later.number] and ran == [empty_pg_url]
    assert upgrade(empty_pg_url) == [] and len(ran) == 1


def test_a_failing_migration_leaves_no_version_row_and_runs_again_next_time(
    empty_pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    upgrade(empty_pg_url)

    def broken(conn: psycopg.Connection[Any], url: str) -> None:
        conn.execute("CREATE TABLE ledger.half_done (id int)")
        raise RuntimeError("the migration fails half-way")

    monkeypatch.setattr(upgrade_module, "MIGRATIONS", (*MIGRATIONS, Migration(len(MIGRATIONS) + 1, "broken", broken)))
    with pytest.raises(RuntimeError):
        upgrade(empty_pg_url)
    assert status(empty_pg_url)[-1].applied_at is None
    assert "half_done" not in tables(empty_pg_url)  # its transaction rolled back


def test_upgrade_works_out_which_events_went_into_the_time_index_out_of_order(empty_pg_url: str) -> None:
    """Ledgers from before the flag get it from their rows, the same as it is set on insert,
    and lose the key the time index no longer has."""
    upgrade(empty_pg_url)
    ledger = Ledger(env=ledger_env(empty_pg_url, pool_size=1))
    register(ledger, "main")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for hours in (10, 5, 20, 20, 15):  # the second and the last go back in business time
        execute(
            ledger, m.ReceiveStock(sku="S", location_id="main", quantity=1, occurred_at=start + timedelta(hours=hours))
        )
    stream = StockItem.id_for("S", "main")
    flags = "SELECT originator_version, out_of_order FROM ledger.event_times WHERE originator_id = %s ORDER BY 1"
    with psycopg.connect(empty_pg_url, autocommit=True) as conn:
        on_insert = conn.execute(flags, (stream,)).fetchall()
        # As the old schema had it: no flag, a key on (stream, version), and (from before numbered
        # migrations) no record of which had run.
        conn.execute("ALTER TABLE ledger.event_times DROP COLUMN out_of_order")
        conn.execute("ALTER TABLE ledger.event_times ADD PRIMARY KEY (originator_id, originator_version)")
        conn.execute("DROP TABLE ledger.schema_migrations")
    upgrade(empty_pg_url)
    with psycopg.connect(empty_pg_url) as conn:
        assert conn.execute(flags, (stream,)).fetchall() == on_insert
        keys = "SELECT count(*) FROM pg_constraint WHERE conname = 'event_times_pkey'"
        assert conn.execute(keys).fetchone() == (0,)
    assert [flag for _, flag in on_insert] == [False, False, True, False, False, True]
    # At 12 h the latest event by business time is the receipt at 10 h (version 2); the one at
    # 5 h came after it in the ledger (version 3), so the item stood at version 3.
    at = ledger.as_of(stream, start + timedelta(hours=12))
    assert isinstance(at, StockItem) and (at.version, at.on_hand) == (3, 2)
    ledger.close()


def test_nothing_creates_tables_except_the_upgrade(empty_pg_url: str) -> None:
    container = build(Settings(database_url=empty_pg_url), run_upgrade=False)
    container.close()
    assert tables(empty_pg_url) == set()


def test_cli_db_upgrade(empty_pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMS_DATABASE_URL", empty_pg_url)
    result = CliRunner().invoke(cli, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "up to date" in result.output
    assert "ledger_events" in tables(empty_pg_url)


def test_health_routes_answer_through_the_app(pg_url: str) -> None:
    container = build(Settings(database_url=pg_url))
    try:
        with TestClient(create_app(container)) as client:
            assert client.get("/healthz").json() == {"status": "ok"}
            ready = client.get("/readyz")
            assert (ready.status_code, ready.json()["status"]) == (200, "ready")
    finally:
        container.close()


def test_readyz_reports_an_unreachable_database(empty_pg_url: str) -> None:
    container = build(Settings(database_url=empty_pg_url), run_upgrade=False)
    try:
        with TestClient(create_app(container)) as client:
            assert client.get("/readyz").status_code == 503
    finally:
        container.close()


def test_the_embedded_default_starts_writes_and_reads_back(tmp_path: Path) -> None:
    settings = Settings(database_url=None, data_dir=tmp_path / "oms")
    container = build(settings)
    try:
        register(container.ledger, "main")
        receive(container.ledger, "A", "main", 3)
    finally:
        container.close()
    reopened = build(settings)
    try:
        assert item(reopened.ledger, "A", "main").available == 3
        assert reopened.database.url != ""
    finally:
        reopened.close()
    assert (tmp_path / "oms" / "pg" / "PG_VERSION").exists()


def test_the_service_runs_projections_in_process(pg_url: str) -> None:
    container = build(Settings(database_url=pg_url), run_upgrade=False)
    try:
        container.start_projections()
        register(container.ledger, "main")
        written = receive(container.ledger, "A", "main", 3).position
        assert written is not None

        def all_caught_up() -> bool:
            with container.pool.connection() as conn:
                return all(s.position >= written for s in statuses(conn, container.projection_names()))

        assert wait_for(all_caught_up, timeout=20)
    finally:
        container.close()
    assert all(not worker.is_alive() for worker in container._workers)
