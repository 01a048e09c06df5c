"""A database failure in the middle of a command, and many HTTP clients racing for stock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import pytest

from api.bootstrap import build
from api.keys import Role
from tests.api.conftest import Api, free_port, is_ready, problem, serving, settings_for, stop_process
from tests.helpers import item
from tests.integration.test_postgres_ledger import event_count

ORDER = {
    "order_id": "o1",
    "channel": "web",
    "customer_id": "C1",
    "currency": "GBP",
    "lines": [{"sku": "A", "quantity": 1, "unit_price": "1.00"}, {"sku": "B", "quantity": 1, "unit_price": "1.00"}],
}


def test_a_database_failure_mid_command_writes_nothing_and_a_retry_succeeds_once(api: Api, pg_url: str) -> None:
    api.post("/v1/locations", {"location_id": "main", "name": "Main", "kind": "warehouse", "priority": 1})
    for sku in ("A", "B"):
        api.post("/v1/inventory/receipts", {"sku": sku, "location_id": "main", "quantity": 5})
    before = event_count(pg_url)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        # The stock rows go in first; the order row then fails inside the same INSERT.
        conn.execute(
            "CREATE FUNCTION ledger.boom() RETURNS trigger LANGUAGE plpgsql AS $$"
            " BEGIN IF NEW.topic LIKE '%Order.Placed' THEN RAISE EXCEPTION 'disk on fire'; END IF;"
            " RETURN NEW; END $$"
        )
        conn.execute(
            "CREATE TRIGGER boom BEFORE INSERT ON ledger.ledger_events FOR EACH ROW EXECUTE FUNCTION ledger.boom()"
        )
    problem(api.post("/v1/orders", ORDER, **{"Idempotency-Key": "try-1"}), 503, "database_unavailable")
    assert event_count(pg_url) == before
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DROP TRIGGER boom ON ledger.ledger_events")
    first = api.post("/v1/orders", ORDER, **{"Idempotency-Key": "try-1"})
    again = api.post("/v1/orders", ORDER, **{"Idempotency-Key": "try-1"})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert event_count(pg_url) == before + 3
    assert item(api.container.ledger, "A", "main").committed == 1


@pytest.fixture
def served(pg_url: str) -> Iterator[tuple[str, str]]:
    """A real uvicorn server on a loopback port, and an integrator key."""
    container = build(settings_for(pg_url, pool_size=16, command_attempts=50), run_upgrade=False)
    key = container.keys.create("race", Role.INTEGRATOR)
    with serving(container) as base:
        yield base, key


@pytest.fixture
def served_by_workers(pg_url: str) -> Iterator[tuple[str, str]]:
    """``oms serve --workers 2``: two HTTP processes handing commands to the writer of a third."""
    container = build(settings_for(pg_url), run_upgrade=False)
    key = container.keys.create("race", Role.INTEGRATOR)
    container.close()
    port = free_port()
    env = {**os.environ, "OMS_DATABASE_URL": pg_url, "OMS_ACCESS_LOG": "false"}
    command = [sys.executable, "-m", "api", "serve", "--no-projections", "--workers", "2", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not is_ready(base):
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        yield base, key
    finally:
        stop_process(process, signal.SIGINT)


@pytest.mark.parametrize("server", ["served", "served_by_workers"])
def test_many_http_clients_ordering_the_last_units_never_oversell(server: str, request: pytest.FixtureRequest) -> None:
    base, key = request.getfixturevalue(server)
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        client.post("/v1/locations", json={"location_id": "main", "name": "Main", "kind": "warehouse", "priority": 1})
        client.post("/v1/inventory/receipts", json={"sku": "LAST", "location_id": "main", "quantity": 10})
    barrier = threading.Barrier(30)

    def order(n: int) -> int:
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            body = {
                "order_id": f"race-{n}",
                "channel": "web",
                "customer_id": "C",
                "currency": "GBP",
                "lines": [{"sku": "LAST", "quantity": 1, "unit_price": "9.99"}],
            }
            barrier.wait()
            return client.post("/v1/orders", json=body).status_code

    with ThreadPoolExecutor(30) as pool:
        statuses = Counter(pool.map(order, range(30)))
    assert statuses == {201: 10, 409: 20}, statuses
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        sold_out = client.post(
            "/v1/orders",
            json={
                "channel": "web",
                "customer_id": "C",
                "currency": "GBP",
                "lines": [{"sku": "LAST", "quantity": 1, "unit_price": "1"}],
            },
        )
    assert sold_out.json()["code"] == "insufficient_stock"
    assert sold_out.json()["skus"] == ["LAST"]
