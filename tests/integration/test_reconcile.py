"""Reconcile folds the ledger again and lists every way the read models differ from it."""

from __future__ import annotations

import psycopg
import pytest
from typer.testing import CliRunner

from api.cli import cli
from commands.ledger import Ledger
from projections.admin import statuses
from projections.events import make_mapper
from projections.reconcile import Difference, reconcile
from projections.registry import all_projections
from projections.runner import ProjectionRunner
from tests.helpers import place
from tests.integration.test_projection_runner import a_history
from tests.projection_helpers import project_all

pytestmark = pytest.mark.postgres


def reconcile_all(url: str) -> dict[str, tuple[int, list[Difference]]]:
    mapper = make_mapper()
    reports = {}
    for name, projection in all_projections(mapper).items():
        report = reconcile(ProjectionRunner(projection, url, mapper, batch_size=7))
        reports[name] = (report.total, report.differences)
    return reports


def scratch_tables(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT table_name FROM information_schema.tables WHERE table_name LIKE '%%reconcile'")
        return [r[0] for r in rows.fetchall()]


def test_a_healthy_ledger_reconciles_with_nothing_to_report(pg_ledger: Ledger, pg_url: str) -> None:
    a_history(pg_ledger, orders=10)
    project_all(pg_url)
    assert reconcile_all(pg_url) == {name: (0, []) for name in ("stock", "orders", "kpis", "audit", "finance")}
    assert scratch_tables(pg_url) == []


def test_a_read_model_behind_the_ledger_is_brought_level_before_comparing(pg_ledger: Ledger, pg_url: str) -> None:
    a_history(pg_ledger, orders=6)
    project_all(pg_url)
    place(pg_ledger, [("A", 1)], order_id="late")
    assert reconcile_all(pg_url) == {name: (0, []) for name in ("stock", "orders", "kpis", "audit", "finance")}
    head = pg_ledger.recorder.max_notification_id()
    with psycopg.connect(pg_url) as conn:
        assert {s.position for s in statuses(conn, ["stock", "orders", "kpis", "audit", "finance"])} == {head}


def test_rows_changed_deleted_or_added_by_hand_are_each_reported(pg_ledger: Ledger, pg_url: str) -> None:
    a_history(pg_ledger, orders=10)
    project_all(pg_url)
    with psycopg.connect(pg_url) as conn:
        available = conn.execute("SELECT available FROM read.stock WHERE sku = 'A' AND location_id = 'main'").fetchone()
        conn.execute("UPDATE read.stock SET available = available + 1 WHERE sku = 'A' AND location_id = 'main'")
        conn.execute("DELETE FROM read.order_lines WHERE order_id = 'o3' AND sku = 'C'")
        conn.execute(
            "INSERT INTO read.audit_events SELECT 999999, stream_id, stream_type, version, type, occurred_at,"
            " recorded_at, actor, correlation_id, causation_id, 'forged', order_id FROM read.audit_events"
            " WHERE position = 1"
        )
    assert available is not None
    reports = reconcile_all(pg_url)
    assert reports["stock"] == (
        1,
        [
            Difference(
                "stock", {"sku": "A", "location_id": "main"}, "changed", {"available": (available[0], available[0] + 1)}
            )
        ],
    )
    assert reports["orders"] == (1, [Difference("order_lines", {"order_id": "o3", "sku": "C"}, "missing")])
    assert reports["audit"] == (1, [Difference("audit_events", {"position": 999999}, "unexpected")])
    assert reports["kpis"] == (0, [])


def test_the_cli_lists_differences_and_fails(pg_ledger: Ledger, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    a_history(pg_ledger, orders=4)
    project_all(pg_url)
    monkeypatch.setenv("OMS_DATABASE_URL", pg_url)
    healthy = CliRunner().invoke(cli, ["audit", "reconcile"])
    assert healthy.exit_code == 0, healthy.output
    assert "orders: agrees at position" in healthy.output
    with psycopg.connect(pg_url) as conn:
        conn.execute("UPDATE read.orders SET status = 'delivered' WHERE order_id = 'o1'")
    broken = CliRunner().invoke(cli, ["audit", "reconcile", "orders"])
    assert broken.exit_code == 1, broken.output
    assert "orders: 1 difference(s)" in broken.output
    assert "orders [order_id=o1]: status: expected 'cancelled', found 'delivered'" in broken.output
    assert CliRunner().invoke(cli, ["audit", "reconcile", "nope"]).exit_code == 2
