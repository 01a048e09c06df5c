"""Webhooks: deliveries per second to a fast local receiver with 1 and with 10 subscriptions, and
what 10 subscriptions cost place-order throughput.

1. Orders are placed over HTTP (``oms serve`` with its webhooks off) for a few seconds; then 1
   (or 10) subscriptions to every event are made from position 0, and a webhook worker in this
   process dispatches and delivers every event to ``bench.receiver``: deliveries per second is
   what it delivered over the time it took.
2. Place-order over HTTP (wrk, 16 clients) with ``oms serve`` delivering webhooks to 10
   subscriptions beside it, against the same server with none, alternating rounds.

Usage: ``python -m bench.webhooks [--seconds 8] [--rounds 2]`` (step 6 of ``make bench``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from api.database import ledger_env
from api.outbound import webhook_policy
from api.settings import Settings
from api.webhooks import store
from api.webhooks.worker import WebhookWorker
from bench import http_orders
from bench.common import api_key, drop_database, free_port, fresh_database, server
from commands.ledger import Ledger
from projections.events import make_mapper

SERVE_ENV = {"OMS_GROUP_COMMIT": "true", "OMS_HTTP_WORKERS": "2", "OMS_ACCESS_LOG": "false", "OMS_POOL_SIZE": "16"}


@contextmanager
def receiver(niceness: int = 0) -> Iterator[str]:
    """The receiver in a process of its own; niced, it stands in for one on another machine,
    whose CPU is not the ledger's to count."""
    port = free_port()
    command = [sys.executable, "-m", "bench.receiver", str(port)]
    process = subprocess.Popen(command, preexec_fn=lambda: os.nice(niceness))  # noqa: PLW1509
    try:
        time.sleep(1.5)
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        process.terminate()
        process.wait(10)


def subscribe(url: str, target: str, count: int, after: int) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("DELETE FROM ledger.webhook_subscriptions")
        for _ in range(count):
            conn.execute(
                "INSERT INTO ledger.webhook_subscriptions (id, url, secret, max_attempts, position, created_by)"
                " VALUES (%s, %s, %s, 12, %s, 'bench')",
                (store.new_id(), target, store.new_secret(), after),
            )


def delivered(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM ledger.webhook_deliveries WHERE state = 'delivered'").fetchone()
    return int(row[0]) if row else 0


def deliveries_per_second(url: str, target: str, subscriptions: int) -> dict[str, Any]:
    with psycopg.connect(url) as conn:
        events = int(conn.execute("SELECT count(*) FROM ledger.ledger_events").fetchone()[0])  # type: ignore[index]
    subscribe(url, target, subscriptions, 0)
    settings = Settings(database_url=url, webhook_allow_networks="127.0.0.0/8", webhook_concurrency=32)
    ledger = Ledger(env=ledger_env(url, pool_size=4))
    worker = WebhookWorker(url, ledger, make_mapper(), webhook_policy(settings), poll_seconds=0.1)
    stop = threading.Event()
    started = time.perf_counter()
    thread = threading.Thread(target=worker.run_forever, args=(stop,), daemon=True)
    thread.start()
    expected = events * subscriptions
    while delivered(url) < expected and time.perf_counter() - started < 600:
        time.sleep(0.25)
    seconds = time.perf_counter() - started
    stop.set()
    thread.join(30)
    ledger.close()
    done = delivered(url)
    return {"subscriptions": subscriptions, "deliveries": done, "seconds": seconds, "per_second": done / seconds}


def _lag(url: str) -> dict[str, int]:
    """How far behind the webhooks were when the load stopped: events not dispatched (the
    furthest-behind subscription), and deliveries not yet sent."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT (SELECT max(notification_id) FROM ledger.ledger_events) - min(position),"
            " (SELECT count(*) FROM ledger.webhook_deliveries WHERE state = 'pending')"
            " FROM ledger.webhook_subscriptions"
        ).fetchone()
    assert row is not None
    return {"events": int(row[0] or 0), "deliveries": int(row[1] or 0)}


def figures(seconds: int, rounds: int) -> dict[str, Any]:
    name = "oms_bench_webhooks"
    url = fresh_database(name)
    try:
        key = api_key(url, "integrator")
        out: dict[str, Any] = {}
        with receiver() as target:
            with server(url, {**SERVE_ENV, "OMS_WEBHOOKS": "false"}) as base:
                http_orders.stock_up(base, key)
                http_orders.wrk(base, key, 16, seconds)
            out["delivery"] = [deliveries_per_second(url, target, n) for n in (1, 10)]
        with receiver(niceness=19) as target:
            none: list[float] = []
            ten: list[float] = []
            lags: list[dict[str, int]] = []
            env = {**SERVE_ENV, "OMS_WEBHOOKS": "true", "OMS_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8"}
            for n in range(rounds):
                for count, into in ((0, none), (10, ten)) if n % 2 == 0 else ((10, ten), (0, none)):
                    with psycopg.connect(url) as conn:
                        head = int(conn.execute("SELECT max(notification_id) FROM ledger.ledger_events").fetchone()[0])  # type: ignore[index]
                    subscribe(url, target, count, head)
                    with server(url, env) as base:
                        http_orders.wrk(base, key, 8, 2)
                        into.append(http_orders.wrk(base, key, 16, seconds).per_second)
                        if count:
                            lags.append(_lag(url))
        out["place_order"] = {
            "none": none,
            "ten_subscriptions": ten,
            "ratio": (sum(ten) / len(ten)) / (sum(none) / len(none)),
            "behind_when_the_load_stopped": lags,
        }
        return out
    finally:
        drop_database(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    result = figures(args.seconds, args.rounds)
    for row in result["delivery"]:
        print(
            f"{row['subscriptions']:>3} subscriptions: {row['deliveries']:,} deliveries in {row['seconds']:.1f} s,"
            f" {row['per_second']:,.0f}/s"
        )
    p = result["place_order"]
    print(
        f"place-order orders/s, no subscriptions {p['none']}, 10 subscriptions {p['ten_subscriptions']},"
        f" ratio {p['ratio']:.3f}; behind when the load stopped: {p['behind_when_the_load_stopped']}"
    )


if __name__ == "__main__":
    main()
