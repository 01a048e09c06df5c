"""Place-order commands over HTTP against a real server, beside a raw psycopg floor.

Each command places an order of 3 lines (3 distinct SKUs of 1,000, one unit each),
committing stock. The load comes from wrk; the floor is psycopg alone, from as many
threads as clients, each transaction writing as many rows as one command writes.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg

from bench.common import api_key, in_threads, percentile, server

SKUS = 1_000
SCRIPT = Path(__file__).with_name("place_order.lua")


@dataclass(frozen=True)
class Run:
    clients: int
    per_second: float
    p50_ms: float
    p99_ms: float
    errors: int


def stock_up(base: str, key: str) -> None:
    """A location and plenty of every SKU, through the import route."""
    location = {
        "command": "register_location",
        "location_id": "main",
        "name": "Main",
        "kind": "warehouse",
        "priority": 1,
    }
    lines = [json.dumps(location)]
    lines += [
        f'{{"command": "receive_stock", "sku": "S{n}", "location_id": "main", "quantity": 1000000}}'
        for n in range(1, SKUS + 1)
    ]
    answer = httpx.post(
        f"{base}/v1/import",
        content="\n".join(lines).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/x-ndjson"},
        timeout=300,
    )
    failed = [line for line in answer.text.splitlines() if '"error"' in line]
    if answer.status_code != 200 or failed:
        raise RuntimeError(f"stocking failed: {answer.status_code} {failed[:3]}")


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def wrk(base: str, key: str, clients: int, seconds: int, script: Path = SCRIPT) -> Run:
    done = subprocess.run(
        ["wrk", f"-t{min(2, clients)}", f"-c{clients}", f"-d{seconds}s", "--latency", "-s", str(script), base],
        env={"BENCH_KEY": key, "BENCH_SKUS": str(SKUS), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    out = done.stdout
    per_second = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    quantiles = {
        int(p): _ms(v, u) for p, v, u in re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.MULTILINE)
    }
    if 50 not in quantiles or 99 not in quantiles:
        raise RuntimeError(f"wrk gave no latency distribution:\n{out}\n{done.stderr}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    failures = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    count = int(errors.group(1)) if errors else 0
    count += sum(int(n) for n in failures.groups()) if failures else 0
    return Run(clients, per_second, quantiles[50], quantiles[99], count)


def http_runs(url: str, clients: list[int], seconds: int, group_commit: bool = True) -> list[Run]:
    key = api_key(url, "integrator")
    # Group commit runs as it is meant to be served on this machine: two HTTP processes and the
    # writer's process. One transaction per command cannot hand over to a writer: one process.
    env = {
        "OMS_GROUP_COMMIT": "true" if group_commit else "false",
        "OMS_HTTP_WORKERS": "2" if group_commit else "1",
        "OMS_ACCESS_LOG": "false",
        "OMS_POOL_SIZE": "16",
    }
    with server(url, env) as base:
        stock_up(base, key)
        wrk(base, key, 8, 3)  # warm the caches
        return [wrk(base, key, n, seconds) for n in clients]


def rows_per_order(url: str) -> int:
    """Rows one place-order wrote: its events, their time index and chain hashes (snapshots aside)."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM ledger.ledger_events e JOIN ledger.ledger_events p"
            " ON p.notification_id = (SELECT max(notification_id) FROM ledger.ledger_events WHERE topic LIKE %s)"
            " WHERE e.notification_id >= p.notification_id",
            ("%Order.Placed",),
        ).fetchone()
    events = int(row[0]) if row else 4
    return 3 * events


def floor_runs(url: str, clients: list[int], seconds: int, rows: int) -> list[Run]:
    """psycopg alone: each 'command' one transaction inserting ``rows`` rows of event-sized data."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_floor")
        conn.execute("CREATE TABLE bench_floor (id bigserial PRIMARY KEY, stream uuid NOT NULL, state bytea NOT NULL)")
    payload = b"x" * 400
    runs = []
    for n in clients:
        latencies = _floor_run(url, n, seconds, [(payload,)] * rows)
        runs.append(
            Run(n, len(latencies) / seconds, percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000, 0)
        )
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE bench_floor")
    return runs


def _floor_run(url: str, clients: int, seconds: int, rows: list[tuple[bytes]]) -> list[float]:
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def work() -> None:
        mine = []
        with psycopg.connect(url) as conn:
            while time.monotonic() < stop:
                started = time.perf_counter()
                with conn.transaction(), conn.cursor() as cur:
                    cur.executemany("INSERT INTO bench_floor (stream, state) VALUES (gen_random_uuid(), %s)", rows)
                mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    in_threads(clients, work)
    return latencies
