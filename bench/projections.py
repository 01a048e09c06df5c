"""Catch-up speed of each projection, and of all together, on an existing ledger.

Usage: ``OMS_DATABASE_URL=... python -m bench.projections [--batch-size N]``. Each
projection is rebuilt from position 0 into fresh tables (suffix ``__bench``),
timed, and the tables dropped; the live read models are not touched.
"""

from __future__ import annotations

import argparse
import os
import threading
import time

import psycopg

from api.runtime import tune_gc
from projections.admin import drop, start_fresh
from projections.events import make_mapper
from projections.registry import all_projections
from projections.runner import ProjectionRunner

SUFFIX = "__bench"


def catch_up(url: str, batch_size: int = 10_000, only: list[str] | None = None) -> list[tuple[str, int, float]]:
    """(projection, events, seconds) for each projection alone, then ``together`` (ledger events).

    The process is tuned as every command that runs projections tunes its own (``tune_gc``)."""
    tune_gc()
    mapper = make_mapper()
    projections = all_projections(mapper)
    names = only or list(projections)
    runners = [ProjectionRunner(projections[n], url, mapper, batch_size=batch_size, suffix=SUFFIX) for n in names]
    results = []
    for runner in runners:
        start_fresh(runner)
        started = time.perf_counter()
        count = runner.run_until_caught_up()
        results.append((runner.projection.name, count, time.perf_counter() - started))
    for runner in runners:
        start_fresh(runner)
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT max(notification_id) FROM ledger.ledger_events").fetchone()
    head = row[0] if row and row[0] else 0
    started = time.perf_counter()
    threads = [threading.Thread(target=r.run_until_caught_up) for r in runners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.append(("together", head, time.perf_counter() - started))
    for runner in runners:
        drop(runner)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--only", nargs="*", default=None)
    args = parser.parse_args()
    for name, count, seconds in catch_up(os.environ["OMS_DATABASE_URL"], args.batch_size, args.only):
        print(f"{name:8} {count:>10,} events {seconds:8.1f} s {count / seconds:>10,.0f} events/s")


if __name__ == "__main__":
    main()
