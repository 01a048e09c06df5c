"""Order command routes."""

from __future__ import annotations

from typing import Any

import pytest

from api.keys import Role
from tests.api.conftest import Api, problem
from tests.projection_helpers import project_all


def order(**change: Any) -> dict[str, Any]:
    body = {
        "order_id": "o1",
        "channel": "web",
        "customer_id": "C-1",
        "currency": "GBP",
        "lines": [{"sku": "A", "quantity": 2, "unit_price": "2.50"}, {"sku": "B", "quantity": 1, "unit_price": 4}],
    }
    return {**body, **change}


def test_place_order(stocked: Api) -> None:
    response = stocked.post(
        "/v1/orders",
        order(
            ship_to={"name": "A", "line1": "1 St", "city": "Leeds", "postal_code": "LS1", "country": "GB"},
            promised_ship_by="2030-01-01T00:00:00Z",
        ),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["id"], body["version"], body["status"]) == ("o1", 1, "committed")
    assert response.headers["location"] == "/v1/orders/o1"
    problem(stocked.post("/v1/orders", order()), 409, "already_exists")


def test_an_order_without_id_gets_one(stocked: Api) -> None:
    body = order()
    del body["order_id"]
    assert stocked.post("/v1/orders", body).json()["id"]


def test_insufficient_stock_names_the_skus_and_writes_nothing(stocked: Api) -> None:
    before = stocked.container.ledger.recorder.max_notification_id()
    found = problem(
        stocked.post(
            "/v1/orders",
            order(lines=[{"sku": "A", "quantity": 11, "unit_price": 1}, {"sku": "Z", "quantity": 1, "unit_price": 1}]),
        ),
        409,
        "insufficient_stock",
    )
    assert found["skus"] == ["A", "Z"]
    assert stocked.container.ledger.recorder.max_notification_id() == before


@pytest.mark.parametrize(
    "change",
    [
        {"currency": "XYZ"},
        {"currency": "gbp"},
        {"lines": []},
        {"lines": [{"sku": "A", "quantity": 1, "unit_price": "1.001"}]},
        {"currency": "JPY", "lines": [{"sku": "A", "quantity": 1, "unit_price": "1.5"}]},
        {"lines": [{"sku": "A", "quantity": 1, "unit_price": 1}, {"sku": "A", "quantity": 1, "unit_price": 1}]},
        {"lines": [{"sku": "A", "quantity": 1, "unit_price": -1}]},
        {"lines": [{"sku": "A", "quantity": 1, "unit_price": "NaN"}]},
        {"channel": "Web Shop"},
        {"promised_ship_by": "2030-01-01T00:00:00"},
        {"ship_to": {"name": "A"}},
        {"ship_to": {"name": "A\u0000B", "line1": "1 St", "city": "Leeds", "postal_code": "LS1", "country": "GB"}},
        {"ship_to": {"name": "A", "line1": "1 St\n2", "city": "Leeds", "postal_code": "LS1", "country": "GB"}},
        {"coupon": "X"},
    ],
)
def test_order_shape_errors(stocked: Api, change: dict[str, Any]) -> None:
    problem(stocked.post("/v1/orders", order(**change)), 422, "validation_error")


def test_idempotency_key_replays_the_first_answer(stocked: Api) -> None:
    first = stocked.post("/v1/orders", order(), **{"Idempotency-Key": "k-1"})
    again = stocked.post("/v1/orders", order(), **{"Idempotency-Key": "k-1"})
    assert (again.status_code, again.json()) == (201, first.json())
    assert again.headers["idempotent-replayed"] == "true"
    problem(
        stocked.post("/v1/orders", order(order_id="o2"), **{"Idempotency-Key": "k-1"}), 422, "idempotency_key_reused"
    )
    problem(stocked.post("/v1/orders", order(order_id="o3"), **{"Idempotency-Key": "bad key"}), 422, "validation_error")


def test_payments(stocked: Api) -> None:
    stocked.post("/v1/orders", order())
    url = "/v1/orders/o1/payments"
    assert stocked.post(url, {"kind": "authorization", "amount": "9.00"}).json()["payment_status"] == "authorized"
    assert stocked.post(url, {"kind": "capture", "amount": 9}).json()["payment_status"] == "paid"
    problem(stocked.post(url, {"kind": "refund", "amount": "9.01"}), 409, "refund_exceeds_captured")
    problem(stocked.post(url, {"kind": "capture", "amount": "0.001"}), 422, "validation_error")
    problem(stocked.post(url, {"kind": "capture", "amount": 0}), 422, "validation_error")
    problem(stocked.post(url, {"kind": "gift", "amount": 1}), 422, "validation_error")
    problem(stocked.post("/v1/orders/nope/payments", {"kind": "capture", "amount": 1}), 404, "order_not_found")


def test_cancellation(stocked: Api) -> None:
    stocked.post("/v1/orders", order())
    url = "/v1/orders/o1/cancellation"
    partial = stocked.post(url, {"reason": "oos", "lines": [{"sku": "A", "quantity": 1}]})
    assert (partial.status_code, partial.json()["version"]) == (200, 2)
    problem(stocked.post(url, {"reason": "x", "lines": [{"sku": "Q", "quantity": 1}]}), 422, "unknown_line")
    problem(stocked.post(url, {"reason": "x", "lines": [{"sku": "A", "quantity": 5}]}), 409, "invalid_transition")
    problem(stocked.post(url, {"reason": "x"}, **{"If-Match": '"1"'}), 412, "precondition_failed")
    assert stocked.post(url, {"reason": "x"}, **{"If-Match": '"2"'}).json()["status"] == "cancelled"
    problem(stocked.post(url, {"reason": "x"}), 409, "invalid_transition")
    problem(stocked.post(url, {}), 422, "validation_error")


def test_shipments_and_deliveries(stocked: Api) -> None:
    stocked.post("/v1/orders", order())
    shipped = stocked.post(
        "/v1/orders/o1/shipments",
        {"shipment_id": "S1", "carrier": "DPD", "tracking_number": "15501234", "lines": [{"sku": "A", "quantity": 2}]},
    )
    assert (shipped.status_code, shipped.json()["status"]) == (201, "partially_shipped")
    problem(stocked.post("/v1/orders/o1/shipments", {"shipment_id": "S1"}), 409, "already_exists")
    problem(
        stocked.post("/v1/orders/o1/shipments", {"lines": [{"sku": "B", "quantity": 5}]}), 409, "invalid_transition"
    )
    problem(stocked.post("/v1/orders/o1/shipments", {"location_id": "mars"}), 404, "unknown_location")
    assert stocked.post("/v1/orders/o1/shipments", {"shipment_id": "S2"}).json()["status"] == "shipped"
    delivered = stocked.post("/v1/orders/o1/shipments/S1/delivery", {"occurred_at": "2025-05-01T10:00:00Z"})
    assert (delivered.status_code, delivered.json()["status"]) == (200, "partially_delivered")
    problem(stocked.post("/v1/orders/o1/shipments/S1/delivery", {}), 409, "invalid_transition")
    problem(stocked.post("/v1/orders/o1/shipments/S9/delivery", {}), 404, "shipment_not_found")
    problem(stocked.post("/v1/orders/o9/shipments", {}), 404, "order_not_found")


def test_returns_and_their_receipt(stocked: Api) -> None:
    stocked.post("/v1/orders", order())
    stocked.post("/v1/orders/o1/shipments", {})
    requested = stocked.post(
        "/v1/orders/o1/returns", {"return_id": "R1", "lines": [{"sku": "A", "quantity": 2, "reason": "too small"}]}
    )
    assert (requested.status_code, requested.json()["return_status"]) == (201, "return_requested")
    problem(
        stocked.post("/v1/orders/o1/returns", {"lines": [{"sku": "B", "quantity": 2, "reason": "x"}]}),
        409,
        "invalid_transition",
    )
    received = stocked.post(
        "/v1/orders/o1/returns/R1/receipt",
        {
            "location_id": "main",
            "lines": [
                {"sku": "A", "quantity": 1, "disposition": "restock"},
                {"sku": "A", "quantity": 1, "disposition": "damaged"},
            ],
        },
    )
    assert (received.status_code, received.json()["return_status"]) == (200, "returned")
    problem(
        stocked.post(
            "/v1/orders/o1/returns/R9/receipt",
            {"location_id": "main", "lines": [{"sku": "A", "quantity": 1, "disposition": "restock"}]},
        ),
        404,
        "return_not_found",
    )
    problem(
        stocked.post(
            "/v1/orders/o1/returns/R1/receipt",
            {"location_id": "main", "lines": [{"sku": "A", "quantity": 1, "disposition": "resell"}]},
        ),
        422,
        "validation_error",
    )


def test_a_note_is_added_through_its_registry_route_and_told_in_the_timeline(stocked: Api, pg_url: str) -> None:
    stocked.post("/v1/orders", order())
    added = stocked.post("/v1/orders/o1/notes", {"text": "Asked for gift wrap."})
    assert added.status_code == 201, added.text
    assert (added.json()["id"], added.json()["version"], added.json()["notes"]) == ("o1", 2, 1)
    assert added.headers["etag"] == '"2"'
    problem(stocked.post("/v1/orders/o1/notes", {"text": ""}), 422, "validation_error")
    problem(stocked.post("/v1/orders/o1/notes", {"text": "x", "colour": "red"}), 422, "validation_error")
    problem(stocked.post("/v1/orders/nope/notes", {"text": "x"}), 404, "order_not_found")
    problem(stocked.post("/v1/orders/o1/notes", {"text": "stale"}, **{"If-Match": '"1"'}), 412, "precondition_failed")
    imported = stocked.client.post(
        "/v1/import",
        content='{"command": "add_order_note", "order_id": "o1", "text": "Called the customer."}\n',
        headers=stocked.headers(**{"Content-Type": "application/x-ndjson"}),
    )
    assert imported.json()["result"] == "ok" and imported.json()["notes"] == 2
    project_all(pg_url)
    timeline = stocked.client.get("/v1/orders/o1/timeline", headers=stocked.headers(Role.SUPPORT)).json()
    sentences = [e["summary"] for e in timeline["events"]]
    assert "Order o1: note by integrator:integrator-tester: Asked for gift wrap." in sentences
