"""The projection commands, and a real worker process killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import psycopg
import pytest
from typer.testing import CliRunner

from api.cli import cli
from commands.ledger import Ledger
from projections.admin import rebuild, statuses
from projections.events import make_mapper
from projections.registry import all_projections
from projections.runner import ProjectionRunner, wait_for
from tests.integration.test_projection_runner import a_history, dump

pytestmark = pytest.mark.postgres


def positions(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {s.name: s.position for s in statuses(conn, ["stock", "orders", "kpis", "audit", "finance"])}


def test_a_worker_process_killed_mid_way_resumes_and_matches_a_clean_rebuild(pg_ledger: Ledger, pg_url: str) -> None:
    a_history(pg_ledger, orders=40)
    head = pg_ledger.recorder.max_notification_id()
    env = {**os.environ, "OMS_DATABASE_URL": pg_url, "OMS_PROJECTION_BATCH_SIZE": "3"}
    worker = subprocess.Popen(
        [sys.executable, "-m", "api", "project"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        assert wait_for(lambda: min(positions(pg_url).values()) > 0, timeout=30)
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        assert min(positions(pg_url).values()) < head  # it really died part-way
    finally:
        worker.kill()
    restarted = subprocess.Popen(
        [sys.executable, "-m", "api", "project"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        assert wait_for(lambda: min(positions(pg_url).values()) == head, timeout=60)
    finally:
        restarted.send_signal(signal.SIGTERM)
        assert restarted.wait(20) == 0
    mapper = make_mapper()
    for projection in all_projections(mapper).values():
        survived = dump(pg_url, projection)
        rebuild(ProjectionRunner(projection, pg_url, mapper))
        assert dump(pg_url, projection) == survived, projection.name


def test_status_and_rebuild_commands(pg_ledger: Ledger, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    a_history(pg_ledger, orders=3)
    monkeypatch.setenv("OMS_DATABASE_URL", pg_url)
    runner = CliRunner()
    before = runner.invoke(cli, ["projections", "status"])
    assert before.exit_code == 0, before.output
    head = pg_ledger.recorder.max_notification_id()
    assert f"stock\t0\t{head}\t{head}\t-" in before.output
    rebuilt = runner.invoke(cli, ["projections", "rebuild", "stock"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert f"rebuilt stock from {head} events" in rebuilt.output
    assert f"stock\t{head}\t{head}\t0\t" in runner.invoke(cli, ["projections", "status"]).output
    assert runner.invoke(cli, ["projections", "rebuild", "nothing"]).exit_code == 2
