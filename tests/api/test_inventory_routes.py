"""Location and inventory command routes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.api.conftest import Api, problem


@pytest.fixture
def stocked(api: Api) -> Api:
    assert (
        api.post(
            "/v1/locations", {"location_id": "main", "name": "Main", "kind": "warehouse", "priority": 1}
        ).status_code
        == 201
    )
    assert (
        api.post("/v1/locations", {"location_id": "store", "name": "Store", "kind": "store", "priority": 2}).status_code
        == 201
    )
    assert api.post("/v1/inventory/receipts", {"sku": "A", "location_id": "main", "quantity": 10}).status_code == 200
    return api


def test_register_location_answers_201_with_id_version_position_and_etag(api: Api) -> None:
    response = api.post("/v1/locations", {"location_id": "main", "name": "Main", "kind": "warehouse", "priority": 1})
    assert response.status_code == 201
    body = response.json()
    assert (body["id"], body["version"]) == ("main", 1)
    assert isinstance(body["position"], int)
    assert response.headers["etag"] == '"1"'
    problem(
        api.post("/v1/locations", {"location_id": "main", "name": "Again", "kind": "store", "priority": 2}),
        409,
        "already_exists",
    )


@pytest.mark.parametrize(
    "body",
    [
        {"location_id": "main", "name": "Main", "kind": "castle", "priority": 1},
        {"location_id": "main", "name": "Main", "kind": "warehouse", "priority": -1},
        {"location_id": "has space", "name": "Main", "kind": "warehouse", "priority": 1},
        {"location_id": "x" * 65, "name": "Main", "kind": "warehouse", "priority": 1},
        {"location_id": "main", "name": "Main", "kind": "warehouse", "priority": 1, "colour": "red"},
        {"location_id": "main", "name": "", "kind": "warehouse", "priority": 1},
        {"location_id": "main", "kind": "warehouse", "priority": 1},
    ],
)
def test_register_location_refuses_bad_bodies_with_every_field_error(api: Api, body: dict[str, Any]) -> None:
    body_ = problem(api.post("/v1/locations", body), 422, "validation_error")
    assert body_["errors"]


def test_a_malformed_json_body_is_a_validation_error(api: Api) -> None:
    response = api.client.post(
        "/v1/locations", content=b"{not json", headers=api.headers(**{"Content-Type": "application/json"})
    )
    problem(response, 422, "validation_error")


def test_a_body_over_the_limit_is_refused_with_413(api: Api) -> None:
    big = {"location_id": "main", "name": "x" * (70 * 1024), "kind": "warehouse", "priority": 1}
    problem(api.post("/v1/locations", big), 413, "payload_too_large")


def test_receipt_rules(stocked: Api) -> None:
    ok = stocked.post(
        "/v1/inventory/receipts",
        {
            "sku": "A",
            "location_id": "main",
            "quantity": 5,
            "reference": "PO-1",
            "occurred_at": "2025-01-02T03:04:05+01:00",
        },
    )
    assert (ok.status_code, ok.json()["id"], ok.headers["etag"]) == (200, "A/main", '"3"')
    problem(
        stocked.post("/v1/inventory/receipts", {"sku": "A", "location_id": "nowhere", "quantity": 1}),
        404,
        "unknown_location",
    )
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    problem(
        stocked.post(
            "/v1/inventory/receipts", {"sku": "A", "location_id": "main", "quantity": 1, "occurred_at": future}
        ),
        422,
        "occurred_at_in_future",
    )


@pytest.mark.parametrize(
    "change",
    [
        {"quantity": 0},
        {"quantity": -1},
        {"quantity": 1.5},
        {"quantity": "3"},
        {"quantity": True},
        {"occurred_at": "2025-01-02T03:04:05"},
        {"sku": "a/b"},
        {"sku": " A"},
        {"sku": ""},
    ],
)
def test_receipt_shape_errors(stocked: Api, change: dict[str, Any]) -> None:
    body = {"sku": "A", "location_id": "main", "quantity": 1, **change}
    problem(stocked.post("/v1/inventory/receipts", body), 422, "validation_error")


def test_a_sku_with_inner_spaces_is_accepted(stocked: Api) -> None:
    assert (
        stocked.post(
            "/v1/inventory/receipts", {"sku": "BANK CHARGES", "location_id": "main", "quantity": 1}
        ).status_code
        == 200
    )


def test_adjustment_rules(stocked: Api) -> None:
    url = "/v1/inventory/adjustments"
    assert stocked.post(url, {"sku": "A", "location_id": "main", "delta": -2, "reason": "damaged"}).status_code == 200
    assert (
        stocked.post(
            url, {"sku": "A", "location_id": "main", "counted_quantity": 9, "reason": "cycle_count"}
        ).status_code
        == 200
    )
    problem(
        stocked.post(url, {"sku": "A", "location_id": "main", "delta": -50, "reason": "shrinkage"}),
        409,
        "insufficient_stock",
    )
    problem(
        stocked.post(url, {"sku": "A", "location_id": "main", "delta": 1, "counted_quantity": 1, "reason": "found"}),
        422,
        "validation_error",
    )
    problem(
        stocked.post(url, {"sku": "A", "location_id": "main", "delta": 0, "reason": "found"}), 422, "validation_error"
    )
    problem(
        stocked.post(url, {"sku": "A", "location_id": "main", "delta": 1, "reason": "shrinkage"}),
        422,
        "validation_error",
    )


def test_move_rules(stocked: Api) -> None:
    url = "/v1/inventory/moves"
    body = {
        "sku": "A",
        "location_id": "main",
        "from_bucket": "available",
        "to_bucket": "quality_control",
        "quantity": 2,
    }
    assert stocked.post(url, body).status_code == 200
    problem(stocked.post(url, {**body, "quantity": 99}), 409, "insufficient_stock")
    problem(stocked.post(url, {**body, "sku": "NEW"}), 404, "stock_item_not_found")
    problem(stocked.post(url, {**body, "to_bucket": "committed"}), 422, "validation_error")
    problem(stocked.post(url, {**body, "to_bucket": "available"}), 422, "validation_error")


def test_transfer_and_its_receipt(stocked: Api) -> None:
    sent = stocked.post(
        "/v1/inventory/transfers",
        {"transfer_id": "T1", "sku": "A", "from_location_id": "main", "to_location_id": "store", "quantity": 4},
    )
    assert (sent.status_code, sent.headers["location"]) == (201, "/v1/inventory/transfers/T1")
    problem(
        stocked.post(
            "/v1/inventory/transfers",
            {"sku": "A", "from_location_id": "main", "to_location_id": "store", "quantity": 40},
        ),
        409,
        "insufficient_stock",
    )
    problem(
        stocked.post(
            "/v1/inventory/transfers", {"sku": "A", "from_location_id": "main", "to_location_id": "mars", "quantity": 1}
        ),
        404,
        "unknown_location",
    )
    part = stocked.post("/v1/inventory/transfers/T1/receipt", {"quantity": 3})
    assert (part.status_code, part.json()["outstanding"]) == (200, 1)
    assert stocked.post("/v1/inventory/transfers/T1/receipt", {}).json()["received"] == 1
    problem(stocked.post("/v1/inventory/transfers/T1/receipt", {}), 409, "invalid_transition")
    problem(stocked.post("/v1/inventory/transfers/T9/receipt", {}), 404, "transfer_not_found")
    problem(stocked.post("/v1/inventory/transfers/T1/receipt", {"quantity": 0}), 422, "validation_error")


def test_stock_policy(stocked: Api) -> None:
    body = {"reorder_point": 3, "reorder_quantity": 20, "safety_stock": 1, "allow_backorder": True}
    response = stocked.put("/v1/inventory/A/main/policy", body)
    assert (response.status_code, response.json()["id"]) == (200, "A/main")
    assert stocked.put("/v1/inventory/BANK%20CHARGES/main/policy", body).status_code == 200
    problem(stocked.put("/v1/inventory/A/mars/policy", body), 404, "unknown_location")
    problem(stocked.put("/v1/inventory/A/main/policy", {**body, "allow_backorder": "yes"}), 422, "validation_error")
    problem(stocked.put("/v1/inventory/A/main/policy", {**body, "safety_stock": -1}), 422, "validation_error")
    problem(stocked.put("/v1/inventory/A/main/policy", body, **{"If-Match": '"1"'}), 412, "precondition_failed")


def test_unknown_routes_and_methods_answer_problems(api: Api) -> None:
    problem(api.client.get("/v1/nothing-here"), 404, "not_found")
    problem(api.client.get("/v1/locations/x/y"), 404, "not_found")
    problem(api.client.delete("/v1/orders", headers=api.headers()), 405, "method_not_allowed")
