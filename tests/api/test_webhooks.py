"""Webhooks: subscriptions through the API, and deliveries to a local receiver that fails at random
and is stopped and started again: every event arrives, in ledger order per stream, signed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psutil
import psycopg
from standardwebhooks.webhooks import Webhook

from api.keys import Role
from api.outbound import webhook_policy
from api.webhooks.worker import WebhookWorker
from projections.events import make_mapper
from tests.api.conftest import Api, free_port, is_ready, problem
from tests.receivers import Receiver

ORDER = {
    "channel": "web",
    "customer_id": "C-1",
    "currency": "GBP",
    "lines": [{"sku": "A", "quantity": 1, "unit_price": "2.00"}],
}
LOOPBACK = "127.0.0.0/8"


def subscribe(api: Api, url: str, **body: Any) -> dict[str, Any]:
    response = api.post("/v1/webhooks", {"url": url, **body}, role=Role.ADMIN)
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


@contextmanager
def delivering(api: Api, **policy: Any) -> Iterator[WebhookWorker]:
    settings = api.container.settings.model_copy(
        update={"webhook_allow_networks": LOOPBACK, "webhook_retry_base_seconds": 0.05, **policy}
    )
    worker = WebhookWorker(
        settings.database_url or "",
        api.container.ledger,
        make_mapper(),
        webhook_policy(settings),
        observer=api.container.metrics,
        poll_seconds=0.1,
    )
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_forever, args=(stop,), daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        stop.set()
        thread.join(20)
        assert not thread.is_alive()


def wait_until(check: Any, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_subscriptions_are_made_shown_paused_rotated_and_deleted(stocked: Api) -> None:
    problem(
        stocked.post("/v1/webhooks", {"url": "http://127.0.0.1:9/x"}, role=Role.ADMIN), 422, "webhook_target_refused"
    )
    problem(stocked.post("/v1/webhooks", {"url": "http://10.1.2.3/x"}, role=Role.ADMIN), 422, "webhook_target_refused")
    problem(
        stocked.post("/v1/webhooks", {"url": "http://[::ffff:192.168.0.1]/x"}, role=Role.ADMIN),
        422,
        "webhook_target_refused",
    )
    problem(stocked.post("/v1/webhooks", {"url": "ftp://example.com/x"}, role=Role.ADMIN), 422, "validation_error")
    problem(stocked.post("/v1/webhooks", {"url": "https://example.com/x"}, role=Role.INTEGRATOR), 403, "forbidden")
    stocked.container.settings.webhook_allow_networks = LOOPBACK
    body = problem(
        stocked.post(
            "/v1/webhooks", {"url": "http://127.0.0.1:9/x", "event_types": ["Order.Teleported"]}, role=Role.ADMIN
        ),
        422,
        "validation_error",
    )
    assert body["unknown"] == ["Order.Teleported"]
    made = subscribe(stocked, "http://127.0.0.1:9/x", event_types=["Order.Shipped"], filter={"channel": "web"})
    assert made["secret"].startswith("whsec_") and made["status"] == "active"
    shown = stocked.client.get(f"/v1/webhooks/{made['id']}", headers=stocked.headers(Role.ADMIN)).json()
    assert "secret" not in shown and shown["filter"] == {"channel": "web", "location_id": None}
    listed = stocked.client.get("/v1/webhooks", headers=stocked.headers(Role.ADMIN)).json()["items"]
    assert [w["id"] for w in listed] == [made["id"]] and "secret" not in listed[0]
    assert stocked.post(f"/v1/webhooks/{made['id']}/pause", {}, role=Role.ADMIN).json()["status"] == "paused"
    assert stocked.post(f"/v1/webhooks/{made['id']}/resume", {}, role=Role.ADMIN).json()["status"] == "active"
    rotated = stocked.post(f"/v1/webhooks/{made['id']}/secret", {}, role=Role.ADMIN).json()
    assert rotated["secret"] != made["secret"] and rotated["secret_rotated_until"] is not None
    assert stocked.client.delete(f"/v1/webhooks/{made['id']}", headers=stocked.headers(Role.ADMIN)).status_code == 204
    problem(
        stocked.client.get(f"/v1/webhooks/{made['id']}", headers=stocked.headers(Role.ADMIN)), 404, "webhook_not_found"
    )


def test_every_event_arrives_in_order_per_stream_signed_across_failures_and_a_restart(stocked: Api) -> None:
    stocked.container.settings.webhook_allow_networks = LOOPBACK
    receiver = Receiver(failure_rate=0.3).start()
    hook = subscribe(stocked, receiver.url, event_types=["Order.Placed", "Order.Shipped", "Order.Delivered"])
    other = subscribe(
        stocked, receiver.url.replace("/hooks", "/other"), event_types=["Order.Placed"], filter={"channel": "phone"}
    )
    expected: list[tuple[str, str]] = []
    with delivering(stocked):
        for n in range(6):
            order_id = f"o{n}"
            assert stocked.post("/v1/orders", {**ORDER, "order_id": order_id}).status_code == 201
            # Not asked for: the Shipped body must still tell the order as it stood after it.
            stocked.post(f"/v1/orders/{order_id}/payments", {"kind": "capture", "amount": "2.00"})
            assert (
                stocked.post(f"/v1/orders/{order_id}/shipments", {"shipment_id": "s", "carrier": "DPD"}).status_code
                == 201
            )
            expected += [(order_id, "Order.Placed"), (order_id, "Order.Shipped")]
            if n == 2:  # the receiver dies and comes back on the same port
                receiver.stop()
                time.sleep(0.3)
                receiver.start()
            assert stocked.post(f"/v1/orders/{order_id}/shipments/s/delivery", {}).status_code == 200
            expected.append((order_id, "Order.Delivered"))
        wait_until(
            lambda: {(r.json["data"]["order"]["order_id"], r.json["type"]) for r in receiver.received} >= set(expected)
        )
        metrics = stocked.client.get("/metrics").text
    receiver.stop()
    verifier = Webhook(hook["secret"])
    by_order: dict[str, list[int]] = {}
    for r in receiver.received:
        assert r.headers["content-type"] == "application/json"
        payload = verifier.verify(r.body, r.headers)
        assert str(payload["data"]["position"]) == r.headers["webhook-id"]
        by_order.setdefault(payload["data"]["order"]["order_id"], []).append(payload["data"]["position"])
    for positions in by_order.values():
        assert positions == sorted(positions), "an order's events arrived out of ledger order"
        assert len(positions) == len(set(positions)), "a delivery arrived twice"
    shipped = next(r.json for r in receiver.received if r.json["type"] == "Order.Shipped")
    assert shipped["data"]["event"]["carrier"] == "DPD" and shipped["data"]["order"]["status"] == "shipped"
    assert shipped["data"]["order"]["captured"] == "2.00" and shipped["data"]["order"]["payment_status"] == "paid"
    assert "personal_data" not in shipped["data"]["event"]
    assert f'oms_webhook_lag_events{{subscription="{hook["id"]}"}} 0.0' in metrics
    assert 'oms_webhook_attempts_total{result="failed"}' in metrics
    log = stocked.client.get(
        f"/v1/webhooks/{hook['id']}/deliveries?limit=1000", headers=stocked.headers(Role.ADMIN)
    ).json()
    assert len(log["items"]) == len(expected) and {d["state"] for d in log["items"]} == {"delivered"}
    one = log["items"][0]
    detail = stocked.client.get(
        f"/v1/webhooks/{hook['id']}/deliveries/{one['position']}", headers=stocked.headers(Role.ADMIN)
    )
    attempts = detail.json()["log"]
    assert attempts[-1]["status"] == 204 and attempts[-1]["error"] is None and len(attempts) == one["attempts"]
    assert all(a["status"] == 503 for a in attempts[:-1])
    assert (
        stocked.client.get(f"/v1/webhooks/{other['id']}/deliveries", headers=stocked.headers(Role.ADMIN)).json()[
            "items"
        ]
        == []
    )


def test_a_dead_delivery_holds_back_nothing_else_and_is_sent_again_on_request(stocked: Api) -> None:
    stocked.container.settings.webhook_allow_networks = LOOPBACK
    receiver = Receiver(status=500).start()
    hook = subscribe(stocked, receiver.url, event_types=["Order.Placed"], max_attempts=2)
    admin = stocked.headers(Role.ADMIN)
    with delivering(stocked):
        stocked.post("/v1/orders", {**ORDER, "order_id": "o1"})
        dead = f"/v1/webhooks/{hook['id']}/deliveries?state=dead"
        wait_until(lambda: len(stocked.client.get(dead, headers=admin).json()["items"]) == 1)
        position = stocked.client.get(dead, headers=admin).json()["items"][0]["position"]
        detail = stocked.client.get(f"/v1/webhooks/{hook['id']}/deliveries/{position}", headers=admin).json()
        assert [a["status"] for a in detail["log"]] == [500, 500] and detail["body"]["type"] == "Order.Placed"
        receiver.status = 204
        stocked.post("/v1/orders", {**ORDER, "order_id": "o2"})  # another stream goes on
        wait_until(lambda: any(r.json["data"]["order"]["order_id"] == "o2" for r in receiver.received))
        again = stocked.post(f"/v1/webhooks/{hook['id']}/deliveries/{position}/redelivery", {}, role=Role.ADMIN)
        assert again.json()["state"] == "pending"
        wait_until(lambda: any(r.json["data"]["order"]["order_id"] == "o1" for r in receiver.received))
        before = len(receiver.received)
        replayed = stocked.post(f"/v1/webhooks/{hook['id']}/replay", {"after": 0}, role=Role.ADMIN)
        assert replayed.status_code == 200
        wait_until(lambda: len(receiver.received) >= before + 2)
    receiver.stop()
    problem(
        stocked.client.get(f"/v1/webhooks/{hook['id']}/deliveries/999999", headers=admin), 404, "delivery_not_found"
    )


def test_duplicates_come_only_from_deliveries_in_flight_when_the_worker_stops(stocked: Api) -> None:
    stocked.container.settings.webhook_allow_networks = LOOPBACK
    receiver = Receiver(delay=0.4).start()
    hook = subscribe(stocked, receiver.url, event_types=["Order.Placed"])
    for n in range(8):
        stocked.post("/v1/orders", {**ORDER, "order_id": f"o{n}"})
    with delivering(stocked, webhook_concurrency=3):
        wait_until(lambda: len(receiver.received) >= 3)
    # Stopped with requests in flight, as a crash would leave them: taken, never recorded.
    with psycopg.connect(stocked.container.settings.database_url or "") as conn:
        settled = {
            str(p) for (p,) in conn.execute("SELECT position FROM ledger.webhook_deliveries WHERE state = 'delivered'")
        }
    in_flight = {r.headers["webhook-id"] for r in receiver.received} - settled
    receiver.delay = 0
    with delivering(stocked):
        wait_until(lambda: len({r.headers["webhook-id"] for r in receiver.received}) == 8)
    receiver.stop()
    ids = [r.headers["webhook-id"] for r in receiver.received]
    twice = {i for i in ids if ids.count(i) > 1}
    assert twice <= in_flight, "a delivery recorded as delivered was sent again"
    assert all(Webhook(hook["secret"]).verify(r.body, r.headers) for r in receiver.received)


def test_a_killed_worker_process_is_replaced_and_duplicates_only_what_was_in_flight(stocked: Api) -> None:
    url = stocked.container.settings.database_url or ""
    stocked.container.settings.webhook_allow_networks = LOOPBACK
    receiver = Receiver(delay=0.3).start()
    hook = subscribe(stocked, receiver.url, event_types=["Order.Placed"])
    for n in range(10):
        stocked.post("/v1/orders", {**ORDER, "order_id": f"o{n}"})
    env = {
        **os.environ,
        "OMS_DATABASE_URL": url,
        "OMS_WEBHOOK_ALLOW_NETWORKS": LOOPBACK,
        "OMS_WEBHOOK_CONCURRENCY": "3",
    }
    command = [sys.executable, "-m", "api", "webhooks", "work"]
    worker = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: len(receiver.received) >= 4, seconds=60)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    with psycopg.connect(url) as conn:
        settled = {
            str(p) for (p,) in conn.execute("SELECT position FROM ledger.webhook_deliveries WHERE state = 'delivered'")
        }
    in_flight = {r.headers["webhook-id"] for r in receiver.received} - settled
    receiver.delay = 0
    again = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: len({r.headers["webhook-id"] for r in receiver.received}) == 10, seconds=60)
    finally:
        again.send_signal(signal.SIGTERM)
        assert again.wait(20) == 0  # stops cleanly on SIGTERM
    receiver.stop()
    ids = [r.headers["webhook-id"] for r in receiver.received]
    assert {i for i in ids if ids.count(i) > 1} <= in_flight
    assert all(Webhook(hook["secret"]).verify(r.body, r.headers) for r in receiver.received)


def test_a_slow_receiver_holds_back_its_own_subscription_only(stocked: Api) -> None:
    stocked.container.settings.webhook_allow_networks = LOOPBACK
    slow, fast = Receiver(delay=3).start(), Receiver().start()
    subscribe(stocked, slow.url, event_types=["Order.Placed"])
    subscribe(stocked, fast.url, event_types=["Order.Placed"])
    with delivering(stocked, webhook_concurrency=2):
        started = time.monotonic()
        for n in range(6):
            stocked.post("/v1/orders", {**ORDER, "order_id": f"o{n}"})
        wait_until(lambda: len(fast.received) == 6, seconds=10)
        assert time.monotonic() - started < 2.5, "the fast receiver waited for the slow one"
    slow.stop()
    fast.stop()


def test_oms_serve_delivers_from_a_niced_child_process_that_ends_with_it(stocked: Api) -> None:
    url = stocked.container.settings.database_url or ""
    stocked.container.settings.webhook_allow_networks = LOOPBACK
    receiver = Receiver().start()
    subscribe(stocked, receiver.url, event_types=["Order.Placed"])
    env = {**os.environ, "OMS_DATABASE_URL": url, "OMS_WEBHOOK_ALLOW_NETWORKS": LOOPBACK}
    port = free_port()
    command = [sys.executable, "-m", "api", "serve", "--no-projections", "--port", str(port)]
    serve = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: is_ready(f"http://127.0.0.1:{port}"), seconds=60)
        stocked.post("/v1/orders", {**ORDER, "order_id": "o1"})
        wait_until(lambda: len(receiver.received) == 1, seconds=60)
        children = [p for p in psutil.Process(serve.pid).children() if "webhooks" in p.cmdline()]
        assert len(children) == 1 and children[0].nice() == 19
        assert os.sched_getscheduler(children[0].pid) == os.SCHED_IDLE  # nice alone is weak under autogrouping
    finally:
        serve.terminate()
        assert serve.wait(30) in (0, -signal.SIGTERM)  # uvicorn raises the signal again once it has shut down
    children[0].wait(timeout=30)  # it ends with its parent (psutil.TimeoutExpired otherwise)
    receiver.stop()


def test_a_name_that_resolves_to_a_private_address_is_refused_when_sending(stocked: Api) -> None:
    stocked.container.settings.webhook_allow_networks = f"{LOOPBACK}, ::1/128"
    receiver = Receiver().start()
    hook = subscribe(stocked, f"http://localhost:{receiver.port}/hooks", event_types=["Order.Placed"], max_attempts=1)
    stocked.post("/v1/orders", {**ORDER, "order_id": "o1"})
    admin = stocked.headers(Role.ADMIN)
    with delivering(stocked, webhook_allow_networks=""):  # the worker's own setting no longer allows it
        dead = f"/v1/webhooks/{hook['id']}/deliveries?state=dead"
        wait_until(lambda: len(stocked.client.get(dead, headers=admin).json()["items"]) == 1)
    assert "not a public address" in stocked.client.get(dead, headers=admin).json()["items"][0]["last_error"]
    assert receiver.received == []
    receiver.stop()
