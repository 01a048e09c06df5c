"""Bulk NDJSON import, over HTTP and from the CLI, on a slice of the real data set."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from api.cli import cli
from bench.online_retail import Replay, read_invoices, write
from tests.api.conftest import Api, problem
from tests.helpers import order

NDJSON = {"Content-Type": "application/x-ndjson"}


# The data set's first day (2,461 rows, 138 invoices), shipped with the tests: see fixtures/README.md.
RETAIL_HEAD = Path(__file__).parents[1] / "fixtures" / "online_retail_head.csv.gz"


@pytest.fixture(scope="module")
def retail_slice() -> str:
    """The first 40 invoices of the UCI Online Retail data, as commands."""
    out = io.StringIO()
    write(Replay().commands(read_invoices(RETAIL_HEAD, limit=40)), out)
    return out.getvalue()


def post_ndjson(api: Api, body: str | bytes, **headers: str) -> Any:
    return api.client.post("/v1/import", content=body, headers=api.headers(**NDJSON, **headers))


def results(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line]


def test_a_slice_of_the_real_data_set_imports_without_a_failure(api: Api, retail_slice: str) -> None:
    response = post_ndjson(api, retail_slice)
    assert (response.status_code, response.headers["content-type"]) == (200, "application/x-ndjson")
    answered = results(response.text)
    commands = [json.loads(line) for line in retail_slice.splitlines()]
    assert len(answered) == len(commands)
    assert [r["line"] for r in answered] == list(range(1, len(commands) + 1))
    assert [r for r in answered if r["result"] != "ok"] == []
    first_sale = next(c for c in commands if c["command"] == "place_order")
    placed = order(api.container.ledger, first_sale["order_id"])
    assert placed.status == "delivered"
    assert placed.total_of("quantity") == sum(line["quantity"] for line in first_sale["lines"])


def test_a_bad_line_does_not_stop_the_others(api: Api) -> None:
    lines = [
        '{"command": "register_location", "location_id": "main", "name": "Main", "kind": "warehouse", "priority": 1}',
        "not json",
        '{"command": "teleport_stock"}',
        '["a list"]',
        '{"command": "receive_stock", "sku": "A", "location_id": "main", "quantity": -1}',
        "",
        '{"command": "receive_stock", "sku": "A", "location_id": "main", "quantity": 4, "idempotency_key": "r1"}',
        '{"command": "receive_stock", "sku": "A", "location_id": "main", "quantity": 4, "idempotency_key": "r1"}',
        '{"command": "cancel_order", "order_id": "missing", "reason": "x"}',
        '{"command": "set_stock_policy", "sku": "A", "location_id": "main", "reorder_point": 1, '
        '"reorder_quantity": 1, "safety_stock": 0, "allow_backorder": false}',
        '{"command": "set_stock_policy", "sku": "A/B", "location_id": "main"}',
        '{"command": "receive_stock", "sku": "A", "location_id": "main", "quantity": NaN}',
    ]
    answered = results(post_ndjson(api, "\n".join(lines)).text)
    outcome = [(r["line"], r["result"], r.get("code")) for r in answered]
    assert outcome == [
        (1, "ok", None),
        (2, "error", "invalid_json"),
        (3, "error", "unknown_command"),
        (4, "error", "validation_error"),
        (5, "error", "validation_error"),
        (7, "ok", None),
        (8, "ok", None),
        (9, "error", "order_not_found"),
        (10, "ok", None),
        (11, "error", "validation_error"),
        (12, "error", "invalid_json"),  # NaN is not JSON
    ]
    assert answered[5]["position"] == answered[6]["position"]  # the repeat replayed the first answer
    assert answered[4]["errors"][0]["loc"] == ["quantity"]


@pytest.mark.parametrize("key", ["", "has space", "k" * 256, 7])
def test_an_import_line_key_follows_the_idempotency_key_header_rule(api: Api, key: object) -> None:
    line = {
        "command": "register_location",
        "location_id": "main",
        "name": "Main",
        "kind": "warehouse",
        "priority": 1,
        "idempotency_key": key,
    }
    (answer,) = results(post_ndjson(api, json.dumps(line)).text)
    assert (answer["result"], answer["code"], answer["errors"][0]["loc"]) == ("error", "validation_error", [])
    assert api.container.ledger.recorder.max_notification_id() is None


def test_import_needs_ndjson_an_integrator_and_no_request_wide_key(api: Api) -> None:
    problem(api.client.post("/v1/import", json={"command": "x"}, headers=api.headers()), 415, "unsupported_media_type")
    problem(api.client.post("/v1/import", content=b"{}", headers=NDJSON), 401, "unauthenticated")
    problem(post_ndjson(api, "{}", **{"Idempotency-Key": "k"}), 422, "validation_error")


def test_an_import_run_again_replays_every_line_and_adds_nothing(api: Api, retail_slice: str) -> None:
    """The converter keys every line, so an import resumed (or repeated) after a crash is harmless."""
    first = results(post_ndjson(api, retail_slice).text)
    head = api.container.ledger.recorder.max_notification_id()
    again = results(post_ndjson(api, retail_slice).text)
    assert [r["result"] for r in again] == ["ok"] * len(first)
    assert all(r.get("replayed") for r in again)
    assert not any(r.get("replayed") for r in first)
    assert [r["position"] for r in again] == [r["position"] for r in first]
    assert api.container.ledger.recorder.max_notification_id() == head


def test_the_converter_writes_the_same_key_for_the_same_line() -> None:
    def lines() -> list[dict[str, Any]]:
        out = io.StringIO()
        write(Replay().commands(read_invoices(RETAIL_HEAD, limit=5)), out)
        return [json.loads(line) for line in out.getvalue().splitlines()]

    first, second = lines(), lines()
    keys = [line["idempotency_key"] for line in first]
    assert keys == [line["idempotency_key"] for line in second]
    assert len(set(keys)) == len(keys)


def test_an_import_line_of_invalid_utf8_is_refused_like_a_command_body(api: Api) -> None:
    line = (
        b'{"command": "register_location", "location_id": "main", "name": "Ma\xffin",'
        b' "kind": "warehouse", "priority": 1}'
    )
    (answer,) = results(post_ndjson(api, line).text)
    assert (answer["result"], answer["code"]) == ("error", "invalid_json")
    assert api.container.ledger.recorder.max_notification_id() is None
    body = line.replace(b'"command": "register_location", ', b"")
    routed = api.client.post("/v1/locations", content=body, headers=api.headers(**{"Content-Type": "application/json"}))
    problem(routed, 422, "validation_error")


def test_the_converter_says_in_one_line_where_the_data_set_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench.online_retail import main as convert

    with pytest.raises(SystemExit) as exited:
        convert([str(tmp_path / "out.ndjson"), "--dataset", str(tmp_path / "absent.csv.gz")])
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "absent.csv.gz" in err and "UCI Online Retail" in err


def test_the_cli_imports_a_file_with_a_summary_and_results(
    pg_url: str, retail_slice: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "retail.ndjson"
    source.write_text(retail_slice + '{"command": "nope"}\n')
    monkeypatch.setenv("OMS_DATABASE_URL", pg_url)
    out = tmp_path / "results.ndjson"
    result = CliRunner().invoke(cli, ["import", str(source), "--results", str(out)])
    total = len(retail_slice.splitlines()) + 1
    assert result.exit_code == 1, result.output  # one line failed
    assert f"{total} lines" in result.output
    assert f"{total - 1} ok, 1 failed" in result.output
    assert "unknown_command: 1" in result.output
    assert "0 of the ok lines were replays" in result.output
    assert len(out.read_text().splitlines()) == total
    source.write_bytes(source.read_bytes() + b'{"command": "\xff"}\n')
    again = CliRunner().invoke(cli, ["import", str(source)])
    assert f"{total - 1} of the ok lines were replays" in again.output
    assert "invalid_json: 1" in again.output


def test_cli_keys_create_list_and_revoke(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMS_DATABASE_URL", pg_url)
    runner = CliRunner()
    created = runner.invoke(cli, ["keys", "create", "--role", "analyst", "--name", "bi-team"])
    assert created.exit_code == 0, created.output
    key = created.output.strip().splitlines()[-1]
    assert key.startswith("oms_")
    key_id = key.split("_")[1]
    listed = runner.invoke(cli, ["keys", "list"])
    assert f"{key_id}\tanalyst\tbi-team" in listed.output
    assert key not in listed.output
    assert runner.invoke(cli, ["keys", "revoke", key_id]).exit_code == 0
    assert runner.invoke(cli, ["keys", "revoke", key_id]).exit_code == 1
    assert runner.invoke(cli, ["keys", "create", "--role", "king", "--name", "x"]).exit_code == 2


def test_cli_version_and_json_outputs(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMS_DATABASE_URL", pg_url)
    runner = CliRunner()
    assert runner.invoke(cli, ["--version"]).output.startswith("oms ")
    runner.invoke(cli, ["keys", "create", "--role", "auditor", "--name", "books"])
    (key,) = json.loads(runner.invoke(cli, ["keys", "list", "--json"]).output)
    assert (key["role"], key["name"], key["revoked_at"]) == ("auditor", "books", None)
    statuses = json.loads(runner.invoke(cli, ["projections", "status", "--json"]).output)
    assert {s["name"] for s in statuses} == {"stock", "orders", "kpis", "audit", "finance"}
    verified = runner.invoke(cli, ["audit", "verify", "--json"])
    assert verified.exit_code == 0
    assert json.loads(verified.output)["ok"] is True
