"""The integrator feed: the ledger's events after a position, as JSON pages or an NDJSON stream that
follows new events, and the order list's change filters, so an integrator never polls every order."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx

from api.keys import Role
from tests.api.conftest import Api, Served, problem
from tests.projection_helpers import project_all

ORDER = {
    "channel": "web",
    "customer_id": "C-1",
    "currency": "GBP",
    "lines": [{"sku": "A", "quantity": 1, "unit_price": "2.00"}],
}


def feed(api: Api, query: str, role: Role = Role.INTEGRATOR) -> dict[str, Any]:
    response = api.client.get(f"/v1/events?{query}", headers=api.headers(role))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_events_come_in_ledger_order_in_pages_filtered_by_type(stocked: Api) -> None:
    for n in range(3):
        assert stocked.post("/v1/orders", {**ORDER, "order_id": f"o{n}"}).status_code == 201
    assert stocked.post("/v1/orders/o1/shipments", {"shipment_id": "s1", "carrier": "DPD"}).status_code == 201
    project_all(stocked.container.settings.database_url or "")
    first = feed(stocked, "limit=2")
    assert len(first["items"]) == 2 and first["next_after"] == first["items"][-1]["position"]
    rest = feed(stocked, f"after={first['next_after']}&limit=1000")
    positions = [e["position"] for e in first["items"] + rest["items"]]
    assert positions == sorted(positions) and rest["next_after"] is None
    placed = feed(stocked, "types=Order.Placed,Order.Shipped")
    assert [(e["type"], e["order_id"]) for e in placed["items"]] == [
        ("Order.Placed", "o0"),
        ("Order.Placed", "o1"),
        ("Order.Placed", "o2"),
        ("Order.Shipped", "o1"),
    ]
    shipped = placed["items"][-1]
    assert "DPD" in shipped["summary"]
    body = problem(
        stocked.client.get("/v1/events?types=Order.Teleported", headers=stocked.headers()), 422, "validation_error"
    )
    assert body["unknown"] == ["Order.Teleported"]
    problem(stocked.client.get("/v1/events", headers=stocked.headers(Role.ANALYST)), 403, "forbidden")


def test_the_order_list_gives_what_changed_after_a_position_or_a_time(stocked: Api) -> None:
    for n in range(2):
        stocked.post("/v1/orders", {**ORDER, "order_id": f"o{n}", "occurred_at": "2026-01-05T09:00:00Z"})
    project_all(stocked.container.settings.database_url or "")
    seen = max(o["last_position"] for o in feed_orders(stocked, ""))
    shipped = stocked.post("/v1/orders/o1/shipments", {"occurred_at": "2026-01-06T09:00:00Z"})
    assert shipped.status_code == 201
    project_all(stocked.container.settings.database_url or "")
    assert [o["order_id"] for o in feed_orders(stocked, f"changed_after={seen}")] == ["o1"]
    assert [o["order_id"] for o in feed_orders(stocked, "updated_after=2026-01-05T12:00:00Z")] == ["o1"]
    problem(stocked.client.get("/v1/orders?changed_after=-1", headers=stocked.headers()), 422, "validation_error")


def feed_orders(api: Api, query: str) -> list[dict[str, Any]]:
    response = api.client.get(f"/v1/orders?{query}", headers=api.headers())
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_a_following_stream_sends_new_events_as_they_come(served_as: Served) -> None:
    served_as.container.start_projections(["audit"])
    headers = served_as.headers(Role.INTEGRATOR)
    with httpx.Client(base_url=served_as.base, headers=headers, timeout=30) as client:
        client.post("/v1/locations", json={"location_id": "main", "name": "Main", "kind": "warehouse", "priority": 1})
        client.post("/v1/inventory/receipts", json={"sku": "A", "location_id": "main", "quantity": 5})
        got: list[dict[str, Any]] = []

        def listen() -> None:
            with (
                httpx.Client(base_url=served_as.base, headers=headers, timeout=30) as reader,
                reader.stream(
                    "GET", "/v1/events?types=Order.Placed&follow=true", headers={"Accept": "application/x-ndjson"}
                ) as stream,
            ):
                for line in stream.iter_lines():
                    if line:
                        got.append(json.loads(line))
                    if len(got) == 2:
                        return

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        for n in range(2):
            time.sleep(0.3)
            assert client.post("/v1/orders", json={**ORDER, "order_id": f"live-{n}"}).status_code == 201
        listener.join(20)
        assert not listener.is_alive(), got
        assert [e["order_id"] for e in got] == ["live-0", "live-1"]
