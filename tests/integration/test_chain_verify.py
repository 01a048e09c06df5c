"""The chain checked inside PostgreSQL gives the verdict of the walk here, whatever was tampered with.

Each example tampers with a small keyed ledger inside a transaction, compares ``verify`` with
``verify(here=True)`` (every row walked here), and rolls back.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.database import ledger_env
from commands import chain_verify, checkpoints, row_checks
from commands import messages as m
from commands.chain import Expectation, Resume, event_hash
from commands.chain_verify import verify
from commands.contracts import CommandContext
from commands.ledger import Ledger
from commands.seals import Seals
from commands.signing import LedgerKey
from tests.helpers import place, receive, register, run_batch

pytestmark = pytest.mark.postgres

KEY = LedgerKey.generate()
SEALS = Seals(KEY.seal_key())
EVENTS, HASHES = "ledger.ledger_events", "ledger.event_hashes"


@pytest.fixture
def ledger(pg_url: str) -> tuple[str, checkpoints.Signed]:
    """A keyed ledger of a few batches, with a checkpoint signed halfway."""
    ledger = Ledger(env=ledger_env(pg_url, pool_size=2), seals=SEALS)
    try:
        register(ledger, "main")
        receive(ledger, "A", "main", 10)
        run_batch(ledger, [(m.ReceiveStock(sku="A", location_id="main", quantity=1), CommandContext())] * 5)
        with psycopg.connect(pg_url) as conn:
            signed = checkpoints.take(conn, KEY, SEALS)
        assert signed is not None
        place(ledger, [("A", 2)], order_id="o1")
        run_batch(ledger, [(m.ReceiveStock(sku="B", location_id="main", quantity=3), CommandContext())] * 4)
        receive(ledger, "A", "main", 1)
    finally:
        ledger.close()
    return pg_url, signed


def _positions(conn: psycopg.Connection[Any]) -> list[int]:
    return [r[0] for r in conn.execute(f"SELECT notification_id FROM {EVENTS} ORDER BY 1")]


def _rehash(conn: psycopg.Connection[Any]) -> None:
    """What an intruder does after changing events: the whole chain again (the seals need the key)."""
    rows = conn.execute(
        f"SELECT notification_id, originator_id, originator_version, topic, state FROM {EVENTS} ORDER BY 1"
    ).fetchall()
    previous = bytes(32)
    for position, stream, version, topic, state in rows:
        previous = event_hash(previous, (position, stream, version, topic, bytes(state)))
        conn.execute(
            f"INSERT INTO {HASHES} (notification_id, hash) VALUES (%s, %s)"
            " ON CONFLICT (notification_id) DO UPDATE SET hash = excluded.hash",
            (position, previous),
        )


_TAMPERING = {
    "change": f"UPDATE {EVENTS} SET state = state || '\\x20'::bytea WHERE notification_id = %s",
    "drop event": f"DELETE FROM {EVENTS} WHERE notification_id = %s",
    "drop chain row": f"DELETE FROM {HASHES} WHERE notification_id = %s",
    "drop both": f"WITH d AS (DELETE FROM {EVENTS} WHERE notification_id = %(p)s)"
    f" DELETE FROM {HASHES} WHERE notification_id = %(p)s",
    "change hash": f"UPDATE {HASHES} SET hash = sha256(hash) WHERE notification_id = %s",
    "forge seal": f"UPDATE {HASHES} SET seal = sha256(hash) WHERE notification_id = %s",
    "drop seal": f"UPDATE {HASHES} SET seal = NULL WHERE notification_id = %s",
    "move": f"WITH d AS (UPDATE {EVENTS} SET notification_id = notification_id + 1000 WHERE notification_id = %(p)s)"
    f" UPDATE {HASHES} SET notification_id = notification_id + 1000 WHERE notification_id = %(p)s",
}


def _tamper(conn: psycopg.Connection[Any], how: str, at: int) -> None:
    positions = _positions(conn)
    if how == "rehash":
        _rehash(conn)
    elif positions:
        p = positions[at % len(positions)]
        query = _TAMPERING[how]
        conn.execute(query, {"p": p} if "%(p)s" in query else (p,))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    tampering=st.lists(st.tuples(st.sampled_from([*_TAMPERING, "rehash"]), st.integers(0, 1000)), max_size=3),
    keyed=st.booleans(),
    expect=st.sampled_from(["nothing", "checkpoint", "head", "more than the head", "resume"]),
)
def test_the_check_in_the_database_gives_the_walks_verdict(
    ledger: tuple[str, checkpoints.Signed], tampering: list[tuple[str, int]], keyed: bool, expect: str
) -> None:
    url, signed = ledger
    c = signed.checkpoint
    expectations, start = [], None
    if expect == "checkpoint":
        expectations = [signed.expectation()]
    elif expect in {"head", "more than the head"}:
        more = 1 if expect == "more than the head" else 0
        expectations = [Expectation(bytes.fromhex(c.hash), at_least=c.events + more, source="the expected head")]
    elif expect == "resume":
        start = Resume(c.position, bytes.fromhex(c.hash), c.events, bytes.fromhex(c.content))
    seals = SEALS if keyed else None
    with psycopg.connect(url) as conn:
        for how, at in tampering:
            _tamper(conn, how, at)
        checked = verify(conn, expectations, seals, start)
        walked = verify(conn, expectations, seals, start, here=True)
        conn.rollback()
    assert checked == walked


def _no_walk(*_: Any, **__: Any) -> Any:
    raise AssertionError("the walk ran: the check in the database did not answer by itself")


def test_an_untouched_ledger_is_answered_by_the_database_alone(
    ledger: tuple[str, checkpoints.Signed], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, signed = ledger
    c = signed.checkpoint
    start = Resume(c.position, bytes.fromhex(c.hash), c.events, bytes.fromhex(c.content))
    head = Expectation(bytes.fromhex(c.hash), at_least=c.events)
    with psycopg.connect(url) as conn:
        walked = [verify(conn, e, s, r, here=True) for e, s, r in _cases(signed, head, start)]
        monkeypatch.setattr(chain_verify, "walk", _no_walk)
        checked = [verify(conn, e, s, r) for e, s, r in _cases(signed, head, start)]
    assert checked == walked
    assert all(v.ok for v in checked)
    assert checked[0].sealed_through == checked[0].position and checked[0].events > c.events


def _cases(signed: checkpoints.Signed, head: Expectation, start: Resume) -> list[Any]:
    return [([], SEALS, None), ([signed.expectation()], SEALS, None), ([head], None, None), ([], SEALS, start)]


def test_gaps_in_the_positions_are_checked_in_the_database(
    ledger: tuple[str, checkpoints.Signed], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Gaps (a failover, a batch rolled back) leave events whose position right before holds
    nothing: each is checked against the chain row before the gap."""
    url, _ = ledger
    with psycopg.connect(url) as conn:
        positions = _positions(conn)
        _tamper(conn, "drop both", len(positions) // 2)
        _tamper(conn, "move", -1)
        _rehash(conn)
        walked = verify(conn, here=True)
        monkeypatch.setattr(chain_verify, "walk", _no_walk)
        checked = verify(conn)
        conn.rollback()
    assert checked.ok and checked == walked
    assert checked.events == len(positions) - 1 and checked.position == positions[-1] + 1000


def test_since_the_checkpoint_only_what_was_added_after_it_is_verified(
    ledger: tuple[str, checkpoints.Signed], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``oms audit verify --since-checkpoint`` trusts the checkpoint for the events up to it: a
    change after it is found, one before it is the full verify's to find."""
    from typer.testing import CliRunner

    from api.cli import cli

    url, signed = ledger
    at = signed.checkpoint.position
    monkeypatch.setenv("OMS_DATABASE_URL", url)
    monkeypatch.setenv("OMS_SIGNING_KEY", KEY.pem().decode())
    runner = CliRunner()

    def since() -> dict[str, Any]:
        done = runner.invoke(cli, ["audit", "verify", "--since-checkpoint", "--json"])
        assert done.exit_code in {0, 1}, done.output
        return dict(json.loads(done.output.strip().splitlines()[-1]))

    whole = runner.invoke(cli, ["audit", "verify", "--json", "--here"])
    assert whole.exit_code == 0, whole.output
    clean = since()
    assert clean["ok"] and clean["events"] == json.loads(whole.output.strip().splitlines()[-1])["events"]
    assert any(f"after the checkpoint at position {at}" in n for n in clean["notes"]), clean["notes"]
    with psycopg.connect(url, autocommit=True) as conn:
        # An index row of an event after the checkpoint, then the state of an event before it.
        conn.execute(
            "UPDATE ledger.event_times t SET out_of_order = NOT out_of_order FROM ledger.ledger_events e"
            " WHERE e.originator_id = t.originator_id AND e.originator_version = t.originator_version"
            " AND e.notification_id = (SELECT max(notification_id) FROM ledger.ledger_events)"
        )
        found = since()
        conn.execute(
            "UPDATE ledger.event_times t SET out_of_order = NOT out_of_order FROM ledger.ledger_events e"
            " WHERE e.originator_id = t.originator_id AND e.originator_version = t.originator_version"
            " AND e.notification_id = (SELECT max(notification_id) FROM ledger.ledger_events)"
        )
        conn.execute(f"UPDATE {EVENTS} SET state = state || '\\x20'::bytea WHERE notification_id = %s", (at - 1,))
        trusted = since()
        full = runner.invoke(cli, ["audit", "verify", "--json"])
    assert not found["ok"] and any("out_of_order is wrong" in f for f in found["findings"]), found
    assert trusted["ok"], trusted
    assert full.exit_code == 1 and json.loads(full.output.strip().splitlines()[-1])["first_broken_position"] == at - 1


def test_the_time_index_checked_after_a_position_judges_out_of_order_by_the_times_before_it(
    ledger: tuple[str, checkpoints.Signed],
) -> None:
    """An earlier index row of the last event's stream moved a day later makes the last event out
    of order, though its row says not: the check after a position finds it by the rows before."""
    url, _ = ledger
    with psycopg.connect(url) as conn:
        positions = _positions(conn)
        row = conn.execute(
            f"SELECT originator_id, originator_version FROM {EVENTS} WHERE notification_id = %s",
            (positions[-1],),
        ).fetchone()
        assert row is not None and row[1] > 1
        conn.execute(
            "UPDATE ledger.event_times SET occurred_at = occurred_at + interval '1 day'"
            " WHERE originator_id = %s AND originator_version = 1",
            (row[0],),
        )
        whole = row_checks.time_index(conn, 20)
        after = row_checks.time_index(conn, 20, positions[-2])
        conn.rollback()
    last = f"time index {row[0]}@{row[1]}: out_of_order is wrong"
    assert last in whole[1] and after == (1, [last]), (whole, after)
