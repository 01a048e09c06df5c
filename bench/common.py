"""What every benchmark needs: scratch databases, a real server process, percentiles."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import httpx
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

SERVER = os.environ.get("OMS_BENCH_SERVER", "postgresql://postgres@127.0.0.1:5432/postgres")


def database_url(name: str) -> str:
    return make_conninfo(SERVER, dbname=name)


def fresh_database(name: str) -> str:
    """An empty database of that name (dropped first if it exists), with the ledger's tables."""
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = database_url(name)
    oms("db", "upgrade", url=url)
    return url


def drop_database(name: str) -> None:
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def oms(*args: str, url: str, env: dict[str, str] | None = None) -> str:
    """Run the ``oms`` command line against a database; its standard output."""
    done = subprocess.run(
        [sys.executable, "-m", "api", *args],
        env={**os.environ, "OMS_DATABASE_URL": url, **(env or {})},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def api_key(url: str, role: str) -> str:
    return oms("keys", "create", "--role", role, "--name", f"bench-{role}", url=url).strip().splitlines()[-1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(url: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """``oms serve --no-projections`` in its own process; yields its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "api", "serve", "--no-projections", "--port", str(port)],
        env={**os.environ, "OMS_DATABASE_URL": url, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("the server did not start")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(30)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of unsorted values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def dbname(url: str) -> str:
    return str(conninfo_to_dict(url)["dbname"])


def in_threads(callers: int, work: Callable[[], None]) -> float:
    """Run ``work`` in that many threads at once; the seconds from the first start to the last end."""
    threads = [threading.Thread(target=work) for _ in range(callers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started
