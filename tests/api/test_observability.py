"""Metrics and request logs: what an operator sees of the running service."""

from __future__ import annotations

import json
import logging

import pytest
from prometheus_client.parser import text_string_to_metric_families

from api.keys import Role
from api.logs import formatter
from tests.api.conftest import Api

LOCATION = {"location_id": "main", "name": "Main", "kind": "warehouse", "priority": 1}
ORDER = {
    "channel": "web",
    "customer_id": "c1",
    "currency": "GBP",
    "lines": [{"sku": "A", "quantity": 1, "unit_price": "2.50"}],
}


def scrape(api: Api) -> dict[str, list[tuple[dict[str, str], float]]]:
    response = api.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def value(samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    return sum(v for found, v in samples.get(name, []) if all(found.get(k) == w for k, w in labels.items()))


def test_metrics_count_requests_commands_batches_imports_and_projections(api: Api) -> None:
    assert api.post("/v1/locations", LOCATION).status_code == 201
    assert api.post("/v1/inventory/receipts", {"sku": "A", "location_id": "main", "quantity": 3}).status_code == 200
    for _ in range(2):
        assert api.post("/v1/orders", ORDER).status_code == 201
    big = {**ORDER, "lines": [{"sku": "A", "quantity": 5, "unit_price": "2.50"}]}
    assert api.post("/v1/orders", big).status_code == 409  # insufficient stock
    assert api.client.get("/v1/orders/nope", headers=api.headers(Role.SUPPORT)).status_code == 404
    lines = (
        '{"command": "nope"}\n'
        '{"command": "register_location", "location_id": "x", "name": "X", "kind": "store", "priority": 2}\n'
    )
    api.client.post("/v1/import", content=lines, headers=api.headers(**{"Content-Type": "application/x-ndjson"}))
    samples = scrape(api)

    posted = value(samples, "oms_http_requests_total", method="POST", route="/v1/orders")
    assert posted == 3
    assert value(samples, "oms_http_requests_total", route="/v1/orders", status="409") == 1
    assert value(samples, "oms_http_requests_total", route="/v1/orders/{order_id}", status="404") == 1
    assert value(samples, "oms_http_request_duration_seconds_count", route="/v1/orders") == 3
    assert value(samples, "oms_http_request_duration_seconds_sum", route="/v1/orders") > 0
    assert value(samples, "oms_commands_total", command="PlaceOrder", result="ok") == 2
    assert value(samples, "oms_commands_total", command="PlaceOrder", result="insufficient_stock") == 1
    assert value(samples, "oms_commands_total", command="RegisterLocation", result="ok") == 2
    batches = value(samples, "oms_group_commit_batch_commands_count")
    assert 1 <= batches <= 6
    assert value(samples, "oms_group_commit_batch_commands_sum") == 6  # every command, in some batch
    assert value(samples, "oms_group_commit_save_seconds_count") == batches
    # The first batch reads the head under the lock; the one writer sends the others in one round trip.
    assert value(samples, "oms_write_batches_total", path="under_lock") == 1
    appended = value(samples, "oms_write_batches_total", path="append")
    assert 1 <= appended <= batches - 1  # a batch of refusals alone writes nothing
    assert value(samples, "oms_import_lines_total", result="unknown_command") == 1
    assert value(samples, "oms_import_lines_total", result="ok") == 1
    assert "oms_version_conflict_retries_total" in samples
    head = api.container.ledger.recorder.max_notification_id()
    assert value(samples, "oms_projection_lag_events", projection="orders") == head  # no projection runs here
    assert value(samples, "oms_projection_position", projection="orders") == 0
    assert value(samples, "oms_projection_lag_seconds", projection="orders") >= 0
    assert value(samples, "oms_db_pool_connections", pool="reads", state="max") == api.container.settings.pool_size
    assert value(samples, "oms_db_pool_connections", pool="ledger", state="open") >= 1
    assert not [s for s in samples if not s.startswith(("oms_", "python_", "process_"))]
    text = api.client.get("/metrics").text
    assert api.keys[Role.INTEGRATOR] not in text
    assert "c1" not in text  # no customer, no order id: bounded labels only


def test_a_request_logs_one_json_line_with_its_id_actor_command_and_result(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="oms.access")
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    api.post("/v1/locations", LOCATION, traceparent=f"00-{trace}-00f067aa0ba902b7-01")
    answer = api.post("/v1/locations", LOCATION, **{"X-Request-Id": "req-42"})
    assert answer.headers["x-request-id"] == "req-42"
    first, second = [r for r in caplog.records if r.name == "oms.access"][-2:]
    line = json.loads(formatter("json").format(first))
    assert line["request_id"] == trace  # the trace id is the correlation id when no X-Request-Id came
    assert (line["method"], line["route"], line["status"]) == ("POST", "/v1/locations", 201)
    assert line["actor"] == "integrator:integrator-tester"
    assert (line["command"], line["result"]) == ("RegisterLocation", "ok")
    assert line["duration_ms"] > 0
    assert api.keys[Role.INTEGRATOR] not in json.dumps(line)
    again = json.loads(formatter("json").format(second))
    assert (again["request_id"], again["status"], again["result"]) == ("req-42", 409, "already_exists")


def test_a_bad_traceparent_is_ignored(api: Api) -> None:
    answer = api.post("/v1/locations", LOCATION, traceparent="00-" + "0" * 32 + "-00f067aa0ba902b7-01")
    assert len(answer.headers["x-request-id"]) == 36  # a new uuid
