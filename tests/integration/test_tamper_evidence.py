"""Tamper evidence against someone with SQL access: one test per attack, each naming what it finds."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from api.database import ledger_env
from commands import checkpoints
from commands import messages as m
from commands.chain import Expectation, Verification, event_hash
from commands.chain_verify import verify
from commands.contracts import CommandContext
from commands.export import export_lines, verify_export
from commands.ledger import Ledger
from commands.row_checks import with_rows_checked
from commands.seals import Rejected, Seals
from commands.signing import LedgerKey
from domain.errors import IdempotencyRecordUntrusted, LedgerError
from domain.stock import StockItem
from projections.events import make_mapper
from tests.helpers import execute, place, receive, register, run_batch

pytestmark = pytest.mark.postgres

KEY = LedgerKey.generate()
SEALS = Seals(KEY.seal_key())


def keyed_ledger(url: str) -> Ledger:
    return Ledger(env=ledger_env(url, pool_size=2), seals=SEALS)


@pytest.fixture
def url(pg_url: str) -> Iterator[str]:
    """A ledger with a stock item snapshotted at version 100 (292 available), an order and a keyed command."""
    ledger = keyed_ledger(pg_url)
    try:
        register(ledger, "main")
        receive(ledger, "A", "main", 193)
        run_batch(ledger, [(m.ReceiveStock(sku="A", location_id="main", quantity=1), CommandContext())] * 99)
        place(ledger, [("A", 2)], order_id="o1")
        execute(ledger, m.ReceiveStock(sku="A", location_id="main", quantity=1), CommandContext(idempotency_key="k1"))
    finally:
        ledger.close()
    return pg_url


def sql(url: str, statement: str, params: Any = ()) -> list[Any]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(statement, params)
        return cur.fetchall() if cur.description else []


def check(
    url: str, expectations: list[Expectation] | None = None, seals: Seals | None = SEALS, rows: bool = True
) -> Verification:
    """``rows``: the rows beside the events too (without, the chain alone)."""
    with psycopg.connect(url) as conn:
        result = verify(conn, expectations or [], seals)
        return with_rows_checked(conn, result, seals) if rows else result


def signed_now(url: str) -> checkpoints.Signed:
    with psycopg.connect(url) as conn:
        signed = checkpoints.take(conn, KEY, SEALS)
    assert signed is not None
    return signed


def rehash(url: str) -> None:
    """What an intruder does after changing events: compute the whole chain again. The seals stay
    as they were: making new ones needs the key."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM ledger.ledger_events"
            " ORDER BY notification_id"
        ).fetchall()
        previous = bytes(32)
        for position, stream, version, topic, state in rows:
            previous = event_hash(previous, (position, stream, version, topic, bytes(state)))
            conn.execute(
                "INSERT INTO ledger.event_hashes (notification_id, hash) VALUES (%s, %s)"
                " ON CONFLICT (notification_id) DO UPDATE SET hash = excluded.hash",
                (position, previous),
            )
        conn.commit()


def head_position(url: str) -> int:
    return int(sql(url, "SELECT max(notification_id) FROM ledger.ledger_events")[0][0])


def test_an_untouched_ledger_verifies_with_its_seals_and_extends_its_checkpoint(url: str) -> None:
    signed = signed_now(url)
    result = check(url, [signed.expectation()])
    assert result.ok, result
    assert (result.sealed_through, result.findings) == (head_position(url), [])
    assert signed.checkpoint.events == result.events


# --- a changed snapshot -------------------------------------------------------------------


def stock_id() -> Any:
    return StockItem.id_for("A", "main")


def inflate_snapshot(url: str) -> None:
    """The attack of the report: a million more available, taken from the supplier bucket."""
    ((version, state),) = sql(
        url,
        "SELECT originator_version, state FROM ledger.ledger_snapshots WHERE originator_id = %s"
        " ORDER BY originator_version DESC LIMIT 1",
        (stock_id(),),
    )
    document = json.loads(bytes(state))
    document["state"]["balances"]["available"] += 1_000_000
    document["state"]["balances"]["supplier"] -= 1_000_000
    sql(
        url,
        "UPDATE ledger.ledger_snapshots SET state = %s WHERE originator_id = %s AND originator_version = %s",
        (json.dumps(document, separators=(",", ":")).encode(), stock_id(), version),
    )


def test_a_changed_snapshot_is_ignored_reported_and_cannot_make_an_oversell(url: str) -> None:
    assert sql(url, "SELECT count(*) FROM ledger.ledger_snapshots WHERE originator_id = %s", (stock_id(),))[0][0] == 1
    inflate_snapshot(url)
    ledger = keyed_ledger(url)
    rejected: list[Rejected] = []
    ledger.store.on_rejected = rejected.append
    try:
        with pytest.raises(LedgerError) as refused:
            place(ledger, [("A", 5000)], order_id="o2")
        assert refused.value.code == "insufficient_stock"
        assert [r.reason for r in rejected] == ["its seal does not match its bytes"]
        from datetime import UTC, datetime

        item = ledger.as_of(stock_id(), datetime.now(UTC))
        assert isinstance(item, StockItem) and item.balances["available"] == 291
    finally:
        ledger.close()
    result = check(url)
    assert not result.ok and any("snapshot" in f and "seal does not match" in f for f in result.findings), result


def test_a_snapshot_resealed_without_the_key_still_fails(url: str) -> None:
    inflate_snapshot(url)
    forged = Seals(None)  # an intruder can compute an unkeyed digest, not the keyed one
    ((version, topic, state, event_hash_),) = sql(
        url,
        "SELECT originator_version, topic, state, event_hash FROM ledger.ledger_snapshots WHERE originator_id = %s",
        (stock_id(),),
    )
    seal = forged.snapshot(stock_id(), version, topic, bytes(state), bytes(event_hash_))
    sql(url, "UPDATE ledger.ledger_snapshots SET seal = %s WHERE originator_id = %s", (seal, stock_id()))
    assert any("seal does not match" in f for f in check(url).findings)


def test_reconcile_finds_a_snapshot_that_disagrees_with_its_events(url: str) -> None:
    """Even a snapshot sealed with the right key (a writer that stored a wrong state) is caught."""
    from commands.snapshot_check import compare

    inflate_snapshot(url)
    ledger = keyed_ledger(url)
    try:
        assert ledger.snapshot_mapper is not None
        with psycopg.connect(url) as conn:
            report = compare(conn, ledger.mapper, ledger.snapshot_mapper)
    finally:
        ledger.close()
    assert report.total == 1 and "balances" in report.differences[0].fields, report


# --- the chain against a checkpoint -----------------------------------------------------


def test_truncation_is_named(url: str) -> None:
    signed = signed_now(url)
    last = head_position(url)
    sql(url, "DELETE FROM ledger.ledger_events WHERE notification_id = %s", (last,))
    sql(url, "DELETE FROM ledger.event_hashes WHERE notification_id = %s", (last,))
    result = check(url, [signed.expectation()], seals=None)
    assert not result.ok and result.problem is not None and result.problem.startswith("truncated"), result
    assert check(url, seals=None, rows=False).ok  # the chain alone, without the checkpoint, would not tell


def test_a_rewrite_with_a_fresh_chain_is_named(url: str) -> None:
    signed = signed_now(url)
    ((position, state),) = sql(
        url, "SELECT notification_id, state FROM ledger.ledger_events WHERE topic LIKE '%%Order.Placed'"
    )
    sql(
        url,
        "UPDATE ledger.ledger_events SET state = %s WHERE notification_id = %s",
        (bytes(state).replace(b'"quantity":2', b'"quantity":1'), position),
    )
    rehash(url)
    assert check(url, seals=None, rows=False).ok  # the chain alone: recomputed, so it passes
    result = check(url, [signed.expectation()], seals=None)
    assert not result.ok and result.problem is not None and result.problem.startswith("rewritten"), result
    # With the key, the writer's seals after the change no longer match.
    sealed = check(url)
    assert not sealed.ok and "seal here does not match" in (sealed.problem or ""), sealed


def test_a_reorder_with_a_fresh_chain_is_named(url: str) -> None:
    signed = signed_now(url)
    a, b = 3, 4
    sql(url, "UPDATE ledger.ledger_events SET notification_id = -1 WHERE notification_id = %s", (a,))
    sql(url, "UPDATE ledger.ledger_events SET notification_id = %s WHERE notification_id = %s", (a, b))
    sql(url, "UPDATE ledger.ledger_events SET notification_id = %s WHERE notification_id = -1", (b,))
    rehash(url)
    result = check(url, [signed.expectation()], seals=None)
    assert not result.ok and result.problem is not None and result.problem.startswith("reordered"), result


def test_a_forged_event_inserted_before_the_checkpoint_is_named(url: str) -> None:
    # A gap, as a rolled-back insert leaves one: the intruder fills it.
    sql(url, "SELECT nextval(pg_get_serial_sequence('ledger.ledger_events', 'notification_id'))")
    ledger = keyed_ledger(url)
    try:
        receive(ledger, "A", "main", 1)
    finally:
        ledger.close()
    signed = signed_now(url)
    positions = [r[0] for r in sql(url, "SELECT notification_id FROM ledger.ledger_events ORDER BY 1")]
    gap = next(p for p in range(1, positions[-1]) if p not in positions)
    ((stream, version, topic, state),) = sql(
        url,
        "SELECT originator_id, originator_version, topic, state FROM ledger.ledger_events WHERE notification_id = %s",
        (positions[-1],),
    )
    sql(
        url,
        "INSERT INTO ledger.ledger_events (notification_id, originator_id, originator_version, topic, state)"
        " VALUES (%s, %s, %s, %s, %s)",
        (gap, stream, version + 1000, topic, bytes(state).replace(b'"quantity":1', b'"quantity":1000000')),
    )
    rehash(url)
    result = check(url, [signed.expectation()], seals=None)
    assert not result.ok and result.problem is not None and result.problem.startswith("events inserted"), result


def test_a_forged_append_after_the_last_seal_is_named(url: str) -> None:
    last = head_position(url)
    ((stream, version, topic, state),) = sql(
        url,
        "SELECT originator_id, originator_version, topic, state FROM ledger.ledger_events"
        " WHERE originator_id = %s ORDER BY originator_version DESC LIMIT 1",
        (stock_id(),),
    )
    forged = bytes(state).replace(b'"quantity":1', b'"quantity":1000000')
    sql(
        url,
        "INSERT INTO ledger.ledger_events (notification_id, originator_id, originator_version, topic, state)"
        " VALUES (%s, %s, %s, %s, %s)",
        (last + 1, stream, version + 1, topic, forged),
    )
    ((previous,),) = sql(url, "SELECT hash FROM ledger.event_hashes WHERE notification_id = %s", (last,))
    link = event_hash(bytes(previous), (last + 1, stream, version + 1, topic, forged))
    sql(url, "INSERT INTO ledger.event_hashes (notification_id, hash) VALUES (%s, %s)", (last + 1, link))
    assert check(url, seals=None, rows=False).ok  # a correct hash: the chain alone passes
    result = check(url)
    assert (result.ok, result.first_broken_position) == (False, last + 1)
    assert "added outside the service" in (result.problem or "")


def test_an_expected_head_proves_growth_and_catches_truncation(url: str) -> None:
    before = check(url)
    assert before.head is not None
    expected = Expectation(bytes.fromhex(before.head), at_least=before.events, source="the published head")
    assert check(url, [expected]).ok
    last = head_position(url)
    sql(url, "DELETE FROM ledger.ledger_events WHERE notification_id = %s", (last,))
    sql(url, "DELETE FROM ledger.event_hashes WHERE notification_id = %s", (last,))
    result = check(url, [expected], seals=None)
    assert not result.ok and "is not in the ledger" in (result.problem or "")


# --- rows beside the events ----------------------------------------------------------------


def test_a_changed_idempotency_record_refuses_its_retry(url: str) -> None:
    sql(url, "UPDATE ledger.idempotency_keys SET result = jsonb_set(result, '{version}', '1') WHERE key = 'k1'")
    ledger = keyed_ledger(url)
    try:
        with pytest.raises(IdempotencyRecordUntrusted):
            execute(
                ledger, m.ReceiveStock(sku="A", location_id="main", quantity=1), CommandContext(idempotency_key="k1")
            )
    finally:
        ledger.close()
    assert any("idempotency record" in f and "k1" in f for f in check(url).findings)


def test_a_changed_time_index_row_is_found(url: str) -> None:
    sql(
        url,
        "UPDATE ledger.event_times SET occurred_at = occurred_at - interval '1 year'"
        " WHERE originator_id = %s AND originator_version = 50",
        (stock_id(),),
    )
    result = check(url)
    assert not result.ok and any("business time differs" in f for f in result.findings), result


# --- exports and checkpoints offline ---------------------------------------------------------


def exported(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return list(export_lines(conn, make_mapper()))


def test_an_export_verifies_offline_and_an_edit_by_hand_is_named(url: str) -> None:
    signed = signed_now(url)
    lines = exported(url)
    assert verify_export(lines, make_mapper(), [signed.expectation()], SEALS).ok
    placed = next(i for i, line in enumerate(lines) if '"StockItem.Received"' in line)
    edited = json.loads(lines[placed])
    edited["event"]["quantity"] += 1
    tampered = [*lines[:placed], json.dumps(edited) + "\n", *lines[placed + 1 :]]
    result = verify_export(tampered, make_mapper())
    assert (result.ok, result.first_broken_position) == (False, edited["position"])
    assert "does not match its stored bytes" in (result.problem or "")
    edited = json.loads(lines[placed])
    edited["state"] = base64.b64encode(
        base64.b64decode(edited["state"]).replace(b'"quantity":', b'"quantity":9')
    ).decode()
    edited["event"]["quantity"] = int("9" + str(edited["event"]["quantity"]))
    tampered = [*lines[:placed], json.dumps(edited) + "\n", *lines[placed + 1 :]]
    result = verify_export(tampered, make_mapper())
    assert (result.ok, result.first_broken_position) == (False, edited["position"])
    assert "stored bytes" in (result.problem or "") and "altered" in (result.problem or "")


def test_a_checkpoint_signed_with_another_key_is_refused(url: str) -> None:
    signed = signed_now(url)
    other = LedgerKey.generate()
    with psycopg.connect(url) as conn:
        result = verify(conn)
    forged = checkpoints.sign(other, result)
    with pytest.raises(checkpoints.BadCheckpoint, match="not signed by key"):
        checkpoints.Signed.from_document(forged.document()).check(KEY.public)
    checkpoints.Signed.from_document(json.loads(json.dumps(signed.document()))).check(KEY.public)


# --- the commands and the route ------------------------------------------------------------


def test_keygen_checkpoint_verify_and_the_route(url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from api.app import create_app
    from api.bootstrap import build
    from api.cli import cli
    from api.keys import Role
    from api.settings import Settings

    runner = CliRunner()
    key_file = tmp_path / "ledger.pem"
    made = runner.invoke(cli, ["audit", "keygen", str(key_file)])
    assert made.exit_code == 0, made.output
    public = made.output.strip().rsplit(" ", 1)[-1]
    assert runner.invoke(cli, ["audit", "keygen", str(key_file)]).exit_code == 2  # never overwrites a key
    monkeypatch.setenv("OMS_DATABASE_URL", url)
    monkeypatch.setenv("OMS_SIGNING_KEY_FILE", str(key_file))
    # The ledger was sealed with another key: its seals fail under this one, and verify says so.
    assert runner.invoke(cli, ["audit", "verify"]).exit_code == 1
    monkeypatch.setenv("OMS_SIGNING_KEY", KEY.pem().decode())
    point = tmp_path / "cp.json"
    signed = runner.invoke(cli, ["audit", "checkpoint", "--out", str(point)])
    assert signed.exit_code == 0 and "written to" in signed.output, signed.output
    good = runner.invoke(cli, ["audit", "verify", "--checkpoint", str(point)])
    assert good.exit_code == 0 and "extends the checkpoint cp.json" in good.output, good.output
    wrong_key = runner.invoke(cli, ["audit", "verify", "--checkpoint", str(point), "--public-key", public])
    assert wrong_key.exit_code == 1 and "was not signed by key" in wrong_key.output, wrong_key.output
    binary = tmp_path / "not-a-key"
    binary.write_bytes(b"\xff\xfe")
    for bad in ("not base64!", str(binary)):
        refused = runner.invoke(cli, ["audit", "verify", "--checkpoint", str(point), "--public-key", bad])
        assert refused.exit_code == 2 and "--public-key" in refused.output, refused.output
    export = tmp_path / "ledger.ndjson.gz"
    assert runner.invoke(cli, ["audit", "export", str(export)]).exit_code == 0
    # An auditor's machine: no database, no private key, only the public key.
    with monkeypatch.context() as auditors:
        auditors.setenv("OMS_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
        auditors.delenv("OMS_SIGNING_KEY")
        auditors.delenv("OMS_SIGNING_KEY_FILE")
        offline = runner.invoke(
            cli,
            ["audit", "verify", "--file", str(export), "--checkpoint", str(point), "--public-key", KEY.public.text()],
        )
    assert offline.exit_code == 0 and "ledger verified" in offline.output, offline.output
    container = build(Settings(database_url=url), run_upgrade=False)
    try:
        auditor = container.keys.create("auditor", Role.AUDITOR)
        with TestClient(create_app(container)) as client:
            page = client.get("/v1/audit/checkpoints", headers={"Authorization": f"Bearer {auditor}"}).json()
            verified = client.get("/v1/audit/verify", headers={"Authorization": f"Bearer {auditor}"}).json()
    finally:
        container.close()
    assert [i["checkpoint"]["position"] for i in page["items"]] == [
        json.loads(point.read_text())["checkpoint"]["position"]
    ]
    assert checkpoints.Signed.from_document(page["items"][0]).verified_by(KEY.public)
    assert (verified["ok"], verified["findings"]) == (True, [])


def test_the_service_signs_a_checkpoint_when_the_ledger_grew(url: str, tmp_path: Any) -> None:
    from psycopg_pool import ConnectionPool

    from api.checkpointing import Checkpointer
    from api.metrics import Metrics

    metrics = Metrics()
    with ConnectionPool(url, min_size=1, max_size=1, open=True) as pool:
        checkpointer = Checkpointer(pool, KEY, SEALS, metrics, tmp_path)
        first = checkpointer.once()
        assert first is not None and checkpointer.once() is None  # nothing new: nothing signed
        ledger = keyed_ledger(url)
        try:
            receive(ledger, "A", "main", 1)
        finally:
            ledger.close()
        second = checkpointer.once()
    assert second is not None and second.checkpoint.events == first.checkpoint.events + 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"checkpoint-{s.checkpoint.position}.json" for s in (first, second)
    )
    samples = {
        s.labels["outcome"]: s.value for s in metrics.checkpoints.collect()[0].samples if s.name.endswith("_total")
    }
    assert samples == {"signed": 2, "unchanged": 1}
    # A ledger that no longer verifies is not signed.
    sql(url, "UPDATE ledger.ledger_events SET state = state || ' ' WHERE notification_id = 3")
    with ConnectionPool(url, min_size=1, max_size=1, open=True) as pool:
        with psycopg.connect(url) as conn:
            conn.execute("DELETE FROM ledger.checkpoints")
            conn.commit()
        assert Checkpointer(pool, KEY, SEALS, metrics, None).once() is None
    assert any(s.labels["outcome"] == "refused" for s in metrics.checkpoints.collect()[0].samples)
