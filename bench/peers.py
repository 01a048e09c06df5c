"""Place-order against the peers, same workload, same run: ours in process through the
group-commit writer, the eventsourcing library as its documentation teaches
(``bench.peer_eventsourcing``) and Emmett's PostgreSQL event store (``bench/emmett``, Node,
installed by ``make bench`` from the npm registry; left out, and said so, without ``node``).

Each is 32 callers placing orders of 3 distinct SKUs of 1,000, one unit each, on its own fresh
database, the three interleaved for ``rounds`` (each round in another order); medians, and each
peer's ratio to ours. Usage: ``python -m bench.peers [--seconds 8] [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from bench import peer_eventsourcing, writer
from bench.common import SERVER, database_url, drop_database, fresh_database
from bench.http_orders import SKUS

EMMETT = Path(__file__).with_name("emmett")
CALLERS = 32


def _empty_database(name: str) -> str:
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return database_url(name)


def _ours(seconds: float) -> dict[str, Any]:
    url = fresh_database("oms_bench_peers_ours")
    ours = writer.Writer(url)
    try:
        found = ours.run(CALLERS, seconds)
        return {"per_second": found.per_second, "p50_ms": found.p50_ms, "p99_ms": found.p99_ms}
    finally:
        ours.close()
        drop_database("oms_bench_peers_ours")


def _eventsourcing(seconds: float) -> dict[str, Any]:
    url = _empty_database("oms_bench_peers_es")
    try:
        return peer_eventsourcing.run(url, SKUS, CALLERS, seconds).__dict__
    finally:
        drop_database("oms_bench_peers_es")


def _uri(url: str) -> str:
    """A connection string as node-postgres takes it (a URI; libpq's key=value it does not)."""
    p = conninfo_to_dict(url)
    auth = quote(str(p.get("user", "postgres"))) + (f":{quote(str(p['password']))}" if p.get("password") else "")
    return f"postgresql://{auth}@{p.get('host', '127.0.0.1')}:{p.get('port', 5432)}/{quote(str(p['dbname']))}"


def _emmett(seconds: float) -> dict[str, Any]:
    url = _uri(_empty_database("oms_bench_peers_emmett"))
    try:
        done = subprocess.run(
            ["node", str(EMMETT / "place_orders.mjs"), url, str(CALLERS), str(seconds), str(SKUS)],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds * 10 + 120,
        )
        return dict(json.loads(done.stdout.strip().splitlines()[-1]))
    finally:
        drop_database("oms_bench_peers_emmett")


def figures(seconds: float, rounds: int) -> dict[str, Any]:
    runs: dict[str, Any] = {"ours": _ours, "eventsourcing": _eventsourcing}
    notes = []
    if shutil.which("node") and (EMMETT / "node_modules").is_dir():
        runs["emmett"] = _emmett
    else:
        notes.append("Emmett left out: no node, or bench/emmett not installed (make bench installs it)")
    found: dict[str, list[dict[str, Any]]] = {name: [] for name in runs}
    for turn in range(rounds):
        names = list(runs) if turn % 2 == 0 else list(reversed(runs))
        for name in names:
            found[name].append(runs[name](seconds))
    medians = {
        name: {key: statistics.median(r[key] for r in rows) for key in ("per_second", "p50_ms", "p99_ms")}
        for name, rows in found.items()
    }
    for row in medians.values():
        row["ratio_to_ours"] = row["per_second"] / medians["ours"]["per_second"]
    return {"callers": CALLERS, "rounds": found, "medians": medians, "notes": notes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    found = figures(args.seconds, args.rounds)
    for name, row in found["medians"].items():
        print(
            f"{name:14} {row['per_second']:>8,.0f} orders/s  p50 {row['p50_ms']:6.1f} ms  p99 {row['p99_ms']:6.1f} ms"
            f"  ratio to ours {row['ratio_to_ours']:.3f}"
        )
    for note in found["notes"]:
        print(f"note: {note}")


if __name__ == "__main__":
    main()
