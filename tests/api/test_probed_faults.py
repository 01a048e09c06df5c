"""Bad input and faults found by probing the running service, each kept as a regression test."""

from __future__ import annotations

import socket
import time
from contextlib import suppress
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from api.http_protocol import GuardedHttpTools
from api.keys import Role
from tests.api.conftest import Api, Served, problem

LOCATION = {"location_id": "main", "name": "Main", "kind": "warehouse", "priority": 1}


@pytest.fixture
def located(api: Api) -> Api:
    assert api.post("/v1/locations", LOCATION).status_code == 201
    return api


@pytest.mark.parametrize(
    "moment",
    [
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC: Python cannot even convert it
        "0001-01-01T00:00:00Z",  # would read back as year 0 in a session east of UTC
        "0",  # pydantic would read it as Unix time
        "1700000000",
    ],
)
def test_a_business_time_outside_the_ledgers_range_is_a_validation_error(located: Api, moment: str) -> None:
    body = {"sku": "A", "location_id": "main", "quantity": 1, "occurred_at": moment}
    answer = problem(located.post("/v1/inventory/receipts", body), 422, "validation_error")
    assert answer["errors"][0]["loc"][-1] == "occurred_at"


def test_a_promise_past_year_9999_in_utc_is_refused_and_orders_still_list(located: Api) -> None:
    assert located.post("/v1/inventory/receipts", {"sku": "A", "location_id": "main", "quantity": 5}).status_code == 200
    order: dict[str, Any] = {
        "channel": "web",
        "customer_id": "c1",
        "currency": "GBP",
        "lines": [{"sku": "A", "quantity": 1, "unit_price": "1.00"}],
        "promised_ship_by": "9999-12-31T23:59:59-14:00",
    }
    problem(located.post("/v1/orders", order), 422, "validation_error")
    order["promised_ship_by"] = "9999-12-30T00:00:00Z"  # the latest a promise may be
    assert located.post("/v1/orders", order).status_code == 201
    widest = {"placed_from": "0001-01-02T00:00:00Z", "placed_to": "9999-12-30T00:00:00Z"}
    listed = located.client.get("/v1/orders", params=widest, headers=located.headers(Role.ANALYST))
    assert listed.status_code == 200, listed.text
    beyond = {"placed_from": "0001-01-01T00:00:00Z", "placed_to": "9999-12-31T23:59:59Z"}
    problem(
        located.client.get("/v1/orders", params=beyond, headers=located.headers(Role.ANALYST)), 422, "validation_error"
    )


@pytest.mark.parametrize("bound", ["0", "20261201", "yesterday"])
def test_kpi_days_must_be_iso_dates(api: Api, bound: str) -> None:
    answer = api.client.get("/v1/kpis/fulfillment", params={"to": bound}, headers=api.headers(Role.ANALYST))
    problem(answer, 422, "validation_error")


def test_min_position_beyond_the_ledger_is_refused_at_once(located: Api) -> None:
    headers = located.headers(Role.ANALYST)
    for beyond in (10**30, 2**63, 1_000_000):
        started = time.monotonic()
        answer = located.client.get("/v1/orders", params={"min_position": beyond}, headers=headers)
        problem(answer, 422, "validation_error")
        assert time.monotonic() - started < 1  # not the read wait (0.2 s here, 5 s by default) and then 503


def test_a_405_names_every_method_the_path_allows(api: Api) -> None:
    refused = api.client.delete("/v1/orders", headers=api.headers())
    problem(refused, 405, "method_not_allowed")
    assert {m.strip() for m in refused.headers["allow"].split(",")} == {"GET", "POST"}
    receipts = api.client.get("/v1/inventory/receipts", headers=api.headers())
    assert receipts.headers["allow"] == "POST"


def _connect(base: str) -> socket.socket:
    parts = urlsplit(base)
    return socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=10)


def test_a_connection_that_never_finishes_its_headers_is_closed(served_as: Served) -> None:
    GuardedHttpTools.limit(GuardedHttpTools.max_head_bytes, 0.5)
    with _connect(served_as.base) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        started = time.monotonic()
        assert conn.recv(1024) == b""  # closed by the server, with nothing sent
        assert time.monotonic() - started < 5
    assert httpx.get(f"{served_as.base}/healthz").status_code == 200  # others are served as usual


def test_headers_over_the_limit_are_refused_with_431(served_as: Served) -> None:
    with _connect(served_as.base) as conn:
        with suppress(BrokenPipeError, ConnectionResetError):  # it may answer and close before all is sent
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n")
        answer = conn.recv(1024)
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert httpx.get(f"{served_as.base}/healthz", headers={"X-Fine": "a" * 8000}).status_code == 200
