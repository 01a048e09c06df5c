"""Tamper evidence: the hash chain written with the events, and its verification."""

from __future__ import annotations

import psycopg
import pytest

from commands.chain_verify import verify
from commands.ledger import Ledger
from tests.helpers import place, receive, register

pytestmark = pytest.mark.postgres


@pytest.fixture
def ledger_url(pg_ledger: Ledger, pg_url: str) -> str:
    register(pg_ledger, "main")
    receive(pg_ledger, "A", "main", 5)
    place(pg_ledger, [("A", 2)], order_id="o1")
    receive(pg_ledger, "A", "main", 1)
    return pg_url


def check(url: str) -> object:
    with psycopg.connect(url) as conn:
        return verify(conn)


def test_an_untouched_ledger_verifies_and_names_its_head(ledger_url: str) -> None:
    result = check(ledger_url)
    with psycopg.connect(ledger_url) as conn:
        events = conn.execute("SELECT count(*) FROM ledger.ledger_events").fetchone()
        head = conn.execute("SELECT hash FROM ledger.event_hashes ORDER BY notification_id DESC LIMIT 1").fetchone()
    assert events is not None and head is not None
    assert (result.ok, result.events, result.head) == (True, events[0], bytes(head[0]).hex())  # type: ignore[attr-defined]


def test_an_empty_ledger_verifies(empty_pg_url: str) -> None:
    from api.upgrade import upgrade

    upgrade(empty_pg_url)
    result = check(empty_pg_url)
    assert (result.ok, result.events, result.head) == (True, 0, None)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("tamper", "problem"),
    [
        (
            "UPDATE ledger.ledger_events SET state = overlay(state placing 'X' from 5) WHERE notification_id = %s",
            "altered",
        ),
        ("DELETE FROM ledger.ledger_events WHERE notification_id = %s", "deleted"),
        ("DELETE FROM ledger.event_hashes WHERE notification_id = %s", "not in the chain"),
    ],
)
def test_an_altered_or_deleted_event_breaks_the_chain_there(ledger_url: str, tamper: str, problem: str) -> None:
    with psycopg.connect(ledger_url, autocommit=True) as conn:
        target = conn.execute(
            "SELECT notification_id FROM ledger.ledger_events WHERE topic LIKE '%%Order.Placed'"
        ).fetchone()
        assert target is not None
        conn.execute(tamper, (target[0],))
    result = check(ledger_url)
    assert (result.ok, result.first_broken_position) == (False, target[0])  # type: ignore[attr-defined]
    assert problem in result.problem  # type: ignore[attr-defined]


def test_deleting_an_event_with_its_hash_breaks_the_chain_at_the_next_event(ledger_url: str) -> None:
    with psycopg.connect(ledger_url, autocommit=True) as conn:
        positions = [
            r[0] for r in conn.execute("SELECT notification_id FROM ledger.ledger_events ORDER BY 1").fetchall()
        ]
        victim = positions[3]
        conn.execute("DELETE FROM ledger.ledger_events WHERE notification_id = %s", (victim,))
        conn.execute("DELETE FROM ledger.event_hashes WHERE notification_id = %s", (victim,))
    result = check(ledger_url)
    assert (result.ok, result.first_broken_position) == (False, positions[4])  # type: ignore[attr-defined]


def test_cli_and_route_report_the_chain(ledger_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from api.app import create_app
    from api.bootstrap import build
    from api.cli import cli
    from api.keys import Role
    from api.settings import Settings

    monkeypatch.setenv("OMS_DATABASE_URL", ledger_url)
    good = CliRunner().invoke(cli, ["audit", "verify"])
    assert good.exit_code == 0 and "ledger verified: 8 events" in good.output, good.output
    container = build(Settings(database_url=ledger_url), run_upgrade=False)
    try:
        key = container.keys.create("auditor", Role.AUDITOR)
        with TestClient(create_app(container)) as client:
            answer = client.get("/v1/audit/verify", headers={"Authorization": f"Bearer {key}"}).json()
            assert (answer["ok"], answer["events"]) == (True, 8)
            with psycopg.connect(ledger_url, autocommit=True) as conn:
                conn.execute("UPDATE ledger.ledger_events SET topic = topic || ' ' WHERE notification_id = 2")
            broken = client.get("/v1/audit/verify", headers={"Authorization": f"Bearer {key}"}).json()
            assert (broken["ok"], broken["first_broken_position"]) == (False, 2)
    finally:
        container.close()
    bad = CliRunner().invoke(cli, ["audit", "verify"])
    assert bad.exit_code == 1
