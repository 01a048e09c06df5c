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

from projections.admin import drop, start_fresh
from projections.events import make_mapper
from projections.registry import all_projections
from projections.runner import ProjectionRunner

SUFFIX = "__bench"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--only", nargs="*", default=None)
    args = parser.parse_args()
    url = os.environ["OMS_DATABASE_URL"]
    mapper = make_mapper()
    projections = all_projections(mapper)
    names = args.only or list(projections)
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT max(notification_id) FROM ledger.ledger_events").fetchone()
    head = row[0] if row and row[0] else 0
    print(f"ledger: {head:,} events; batch size {args.batch_size}")
    runners = [ProjectionRunner(projections[n], url, mapper, batch_size=args.batch_size, suffix=SUFFIX) for n in names]
    for runner in runners:
        start_fresh(runner)
        started = time.perf_counter()
        count = runner.run_until_caught_up()
        elapsed = time.perf_counter() - started
        print(f"{runner.projection.name:8} {count:>10,} events {elapsed:8.1f} s {count / elapsed:>10,.0f} events/s")
    for runner in runners:
        start_fresh(runner)
    started = time.perf_counter()
    threads = [threading.Thread(target=r.run_until_caught_up) for r in runners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    print(
        f"{'together':8} {head * len(runners):>10,} events {elapsed:8.1f} s "
        f"{head * len(runners) / elapsed:>10,.0f} events/s ({head / elapsed:,.0f} ledger events/s)"
    )
    for runner in runners:
        drop(runner)


if __name__ == "__main__":
    main()
