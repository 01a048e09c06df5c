"""Timelines, the audit feed and the ledger export."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import cli
from api.keys import Role
from tests.api.conftest import Api, problem
from tests.projection_helpers import project_all


@pytest.fixture
def history(api: Api, pg_url: str) -> Api:
    api.post("/v1/locations", {"location_id": "main", "name": "Main warehouse", "kind": "warehouse", "priority": 1})
    api.post("/v1/inventory/receipts", {"sku": "SKU-1", "location_id": "main", "quantity": 10})
    api.post(
        "/v1/orders",
        {
            "order_id": "o1",
            "channel": "web",
            "customer_id": "C1",
            "currency": "GBP",
            "lines": [{"sku": "SKU-1", "quantity": 3, "unit_price": "2.00"}],
        },
        **{"X-Request-Id": "req-place"},
    )
    api.post("/v1/orders/o1/shipments", {"shipment_id": "s1", "carrier": "DPD", "tracking_number": "T1"})
    api.post(
        "/v1/orders",
        {
            "order_id": "o2",
            "channel": "web",
            "customer_id": "C2",
            "currency": "GBP",
            "lines": [{"sku": "SKU-1", "quantity": 1, "unit_price": "2.00"}],
        },
    )
    project_all(pg_url)
    return api


def test_the_timeline_tells_the_order_and_its_stock_movements_in_words(history: Api) -> None:
    answer = history.client.get("/v1/orders/o1/timeline", headers=history.headers(Role.SUPPORT))
    assert answer.status_code == 200, answer.text
    events = answer.json()["events"]
    assert [e["type"] for e in events] == ["Order.Placed", "StockItem.Committed", "Order.Shipped", "StockItem.Shipped"]
    assert events[1]["summary"] == "3 x SKU-1 committed at Main warehouse to order o1"
    assert events[2]["summary"] == "Order o1: shipment s1 of 3 x SKU-1 left Main warehouse by DPD, tracking T1"
    assert events[0]["correlation_id"] == events[1]["correlation_id"] == "req-place"
    assert events[1]["causation_id"] == f"{events[0]['stream_id']}/1"
    assert all(e["actor"] == "integrator:integrator-tester" and e["occurred_at"] and e["recorded_at"] for e in events)
    problem(
        history.client.get("/v1/orders/nope/timeline", headers=history.headers(Role.SUPPORT)), 404, "order_not_found"
    )
    problem(history.client.get("/v1/orders/o1/timeline", headers=history.headers(Role.ANALYST)), 403, "forbidden")


def test_the_audit_feed_pages_filters_and_resumes(history: Api) -> None:
    get = history.client.get
    headers = history.headers(Role.AUDITOR)
    first = get("/v1/audit/events", params={"limit": 4}, headers=headers).json()
    assert [e["position"] for e in first["items"]] == [1, 2, 3, 4] and first["next_after"] == 4
    rest = get("/v1/audit/events", params={"after": first["next_after"], "limit": 1000}, headers=headers).json()
    assert rest["next_after"] is None and rest["items"][0]["position"] == 5
    placed = get("/v1/audit/events", params={"type": "Order.Placed"}, headers=headers).json()["items"]
    assert [e["order_id"] for e in placed] == ["o1", "o2"]
    stream = placed[0]["stream_id"]
    of_stream = get("/v1/audit/events", params={"stream_id": stream}, headers=headers).json()["items"]
    assert {e["stream_id"] for e in of_stream} == {stream} and len(of_stream) == 2
    streamed = get("/v1/audit/events", params={"after": 2}, headers={**headers, "Accept": "application/x-ndjson"})
    lines = [json.loads(line) for line in streamed.text.splitlines()]
    assert streamed.headers["content-type"].startswith("application/x-ndjson")
    assert [e["position"] for e in lines] == list(range(3, 3 + len(lines)))
    assert len(lines) + 2 == len(first["items"]) + len(rest["items"])
    problem(get("/v1/audit/events", headers=history.headers(Role.SUPPORT)), 403, "forbidden")
    # PostgreSQL text cannot hold NUL: refused at the edge, not a 500.
    auditor = history.headers(Role.AUDITOR)
    problem(get("/v1/audit/events", params={"actor": "a\x00"}, headers=auditor), 422, "validation_error")


def test_the_ledger_exports_as_ndjson_with_hashes(
    history: Api, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMS_DATABASE_URL", pg_url)
    out = tmp_path / "ledger.ndjson"
    result = CliRunner().invoke(cli, ["audit", "export", str(out)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    head = history.container.ledger.recorder.max_notification_id()
    assert [line["position"] for line in lines] == list(range(1, (head or 0) + 1))
    placed = next(line for line in lines if line["type"] == "Order.Placed")
    assert placed["event"]["order_id"] == "o1" and len(placed["hash"]) == 64
    later = tmp_path / "later.ndjson.gz"
    assert CliRunner().invoke(cli, ["audit", "export", str(later), "--after", "5"]).exit_code == 0
    with gzip.open(later, "rt") as exported:
        assert json.loads(exported.readline())["position"] == 6


def test_as_of_an_order_and_a_stock_item_by_business_and_recorded_time(api: Api) -> None:
    post = api.post
    post(
        "/v1/locations",
        {
            "location_id": "main",
            "name": "Main",
            "kind": "warehouse",
            "priority": 1,
            "occurred_at": "2025-03-01T08:00:00Z",
        },
    )
    post(
        "/v1/inventory/receipts",
        {"sku": "S", "location_id": "main", "quantity": 5, "occurred_at": "2025-03-01T09:00:00Z"},
    )
    post(
        "/v1/orders",
        {
            "order_id": "o1",
            "channel": "web",
            "customer_id": "C",
            "currency": "GBP",
            "lines": [{"sku": "S", "quantity": 2, "unit_price": "1.00"}],
            "occurred_at": "2025-03-02T10:00:00Z",
        },
    )
    shipped = post("/v1/orders/o1/shipments", {"shipment_id": "s1", "occurred_at": "2025-03-03T10:00:00Z"}).json()
    headers = api.headers(Role.AUDITOR)

    def order_at(at: str, time: str = "business") -> dict[str, object]:
        response = api.client.get("/v1/orders/o1/as-of", params={"at": at, "time": time}, headers=headers)
        assert response.status_code == 200, response.text
        body: dict[str, object] = response.json()
        return body

    assert (order_at("2025-03-02T12:00:00Z")["status"], order_at("2025-03-02T12:00:00Z")["version"]) == ("committed", 1)
    assert order_at("2025-03-04T00:00:00Z")["status"] == "shipped"
    assert order_at(datetime_now(), "recorded")["version"] == shipped["version"]
    problem(
        api.client.get("/v1/orders/o1/as-of", params={"at": "2025-03-01T00:00:00Z"}, headers=headers),
        404,
        "order_not_found",
    )
    problem(
        api.client.get("/v1/orders/o1/as-of", params={"at": "2025-03-04T00:00:00"}, headers=headers),
        422,
        "validation_error",
    )
    problem(
        api.client.get("/v1/orders/o1/as-of", params={"at": "2025-03-04T00:00:00Z"}, headers=api.headers(Role.SUPPORT)),
        403,
        "forbidden",
    )
    stock = api.client.get("/v1/stock/S/main/as-of", params={"at": "2025-03-02T12:00:00Z"}, headers=headers).json()
    assert (stock["balances"]["available"], stock["balances"]["committed"]) == (3, 2)
    before = api.client.get("/v1/stock/S/main/as-of", params={"at": "2025-03-01T09:30:00Z"}, headers=headers).json()
    assert (before["balances"]["available"], before["version"]) == (5, 2)


def datetime_now() -> str:
    return datetime.now(UTC).isoformat()
