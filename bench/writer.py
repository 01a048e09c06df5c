"""Place-order in process, through the group-commit writer, beside what PostgreSQL takes from one
writer of the same rows.

* ours: ``callers`` threads each hand one place-order at a time (3 lines, 3 distinct SKUs of
  1,000, one unit each) to the service's ``GroupCommitter`` and wait for its answer, for
  ``seconds``: orders/s, p50/p99 of each call, orders per commit, and the CPU time per order of
  this process and of PostgreSQL's;
* the floor: one psycopg connection inserting the rows those orders wrote (copied from the
  ledger: events with their bytes, time index, chain hashes) into tables made like the ledger's,
  ``n`` orders per transaction, one insert per table per transaction.

Ours and the floor run on the same database, interleaved, each repetition the other first.
Usage: ``python -m bench.writer [--seconds 8] [--rounds 3] [--callers 32]``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import threading
import time
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any
from uuid import UUID

import psutil
import psycopg

from api.database import ledger_env
from api.runtime import tune_gc
from bench.common import drop_database, fresh_database, in_threads, percentile
from bench.http_orders import SKUS
from commands import messages as m
from commands.contracts import CommandContext
from commands.group_commit import GroupCommitter
from commands.ledger import Ledger
from commands.pipeline import Pipeline
from domain.locations import LocationKind

FLOOR_BATCHES = (16, 256, 1024)
_TABLES = ("ledger_events", "event_times", "event_hashes")


@dataclass(frozen=True)
class Ours:
    callers: int
    per_second: float
    p50_ms: float
    p99_ms: float
    orders_per_commit: float
    cpu_us_per_order: float
    postgres_cpu_us_per_order: float


def _postgres_cpu() -> float:
    total = 0.0
    for process in psutil.process_iter(["name"]):
        try:
            if process.info["name"] == "postgres":
                times = process.cpu_times()
                total += times.user + times.system
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total


def _own_cpu() -> float:
    times = psutil.Process().cpu_times()
    return float(times.user + times.system)


class Writer:
    """The service's writer on a fresh, stocked ledger."""

    def __init__(self, url: str) -> None:
        self.ledger = Ledger(env=ledger_env(url, pool_size=4))
        self.committer = GroupCommitter(Pipeline(self.ledger, trusted=True))
        self.committer.start()
        self.ctx = CommandContext()
        self.serial = 0
        self._lock = threading.Lock()
        location = m.RegisterLocation(location_id="main", name="Main", kind=LocationKind.WAREHOUSE, priority=1)
        self.call(location)
        for start in range(1, SKUS + 1, 250):
            stock = [
                (m.ReceiveStock(sku=f"S{n}", location_id="main", quantity=10_000_000), self.ctx)
                for n in range(start, min(start + 250, SKUS + 1))
            ]
            self.committer.enqueue(stock).result()

    def call(self, command: m.Command) -> None:
        [answer] = self.committer.enqueue([(command, self.ctx)]).result()
        if isinstance(answer, Exception):
            raise answer

    def order(self) -> m.PlaceOrder:
        with self._lock:
            self.serial += 1
            n = self.serial
        skus = random.sample(range(1, SKUS + 1), 3)
        lines = tuple(
            m.OrderLine(sku=f"S{sku}", quantity=1, unit_price=Decimal(price))
            for sku, price in zip(skus, ("2.50", "3.10", "1.25"), strict=True)
        )
        return m.PlaceOrder(order_id=f"o{n}", channel="web", customer_id=f"C-{n % 1000}", currency="GBP", lines=lines)

    def run(self, callers: int, seconds: float) -> Ours:
        tune_gc()  # as ``oms serve`` runs: collected far less often than Python's default
        latencies: list[float] = []
        gather = threading.Lock()
        stop = time.monotonic() + seconds
        batches, commands = self.committer.batches, self.committer.commands

        def work() -> None:
            mine = []
            while time.monotonic() < stop:
                order = self.order()
                started = time.perf_counter()
                self.call(order)
                mine.append(time.perf_counter() - started)
            with gather:
                latencies.extend(mine)

        cpu, pg = _own_cpu(), _postgres_cpu()
        elapsed = in_threads(callers, work)
        cpu, pg = _own_cpu() - cpu, _postgres_cpu() - pg
        orders = len(latencies)
        return Ours(
            callers,
            orders / elapsed,
            percentile(latencies, 50) * 1000,
            percentile(latencies, 99) * 1000,
            (self.committer.commands - commands) / max(1, self.committer.batches - batches),
            cpu / orders * 1e6,
            pg / orders * 1e6,
        )

    def close(self) -> None:
        self.committer.stop()
        self.ledger.close()


class Floor:
    """The rows of the last ``sample`` orders, re-inserted by one writer into copies of the tables."""

    def __init__(self, url: str, sample: int = 1024) -> None:
        self.url = url
        with psycopg.connect(url, autocommit=True) as conn:
            for table in _TABLES:
                conn.execute(f"DROP TABLE IF EXISTS public.floor_{table}")
                conn.execute(f"CREATE TABLE public.floor_{table} (LIKE ledger.{table} INCLUDING INDEXES)")
            conn.execute(
                "ALTER TABLE public.floor_ledger_events ALTER notification_id ADD GENERATED ALWAYS AS IDENTITY"
            )
            first = conn.execute(
                "SELECT min(notification_id) FROM (SELECT notification_id FROM ledger.ledger_events"
                " WHERE topic LIKE %s ORDER BY notification_id DESC LIMIT %s) t",
                ("%Order.Placed", sample),
            ).fetchone()
            self.events = conn.execute(
                "SELECT originator_id, originator_version, topic, state FROM ledger.ledger_events"
                " WHERE notification_id >= %s ORDER BY notification_id",
                (first[0] if first else 0,),
            ).fetchall()
            self.times = conn.execute(
                "SELECT t.occurred_at, t.recorded_at FROM ledger.ledger_events e JOIN ledger.event_times t"
                " USING (originator_id, originator_version) WHERE e.notification_id >= %s ORDER BY e.notification_id",
                (first[0] if first else 0,),
            ).fetchall()
        self.per_order = len(self.events) / sample
        self.copies = 0

    def run(self, orders_per_transaction: int, seconds: float) -> float:
        """Orders per second: each transaction inserts the rows of that many orders."""
        events = max(1, round(orders_per_transaction * self.per_order))
        done = 0
        with psycopg.connect(self.url) as conn:
            conn.prepare_threshold = None
            stop = time.monotonic() + seconds
            started = time.perf_counter()
            while time.monotonic() < stop:
                rows = [self.events[i % len(self.events)] for i in range(events)]
                times = [self.times[i % len(self.times)] for i in range(events)]
                self.copies += 1
                ids = [UUID(int=(self.copies << 32) + i) for i in range(events)]
                with conn.transaction(), conn.cursor() as cur:
                    cur.execute(
                        "INSERT INTO public.floor_ledger_events (originator_id, originator_version, topic, state)"
                        " SELECT * FROM unnest(%b::uuid[], %b::bigint[], %b::text[], %b::bytea[])"
                        " RETURNING notification_id",
                        (ids, [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows]),
                        binary=True,
                    )
                    positions = [r[0] for r in cur.fetchall()]
                    cur.execute(
                        "INSERT INTO public.floor_event_times SELECT * FROM"
                        " unnest(%b::uuid[], %b::bigint[], %b::timestamptz[], %b::timestamptz[], %b::bool[])",
                        (ids, [r[1] for r in rows], [t[0] for t in times], [t[1] for t in times], [False] * events),
                        binary=True,
                    )
                    cur.execute(
                        "INSERT INTO public.floor_event_hashes (notification_id, hash)"
                        " SELECT * FROM unnest(%b::bigint[], %b::bytea[])",
                        (positions, [bytes(32)] * events),
                        binary=True,
                    )
                done += orders_per_transaction
            return done / (time.perf_counter() - started)

    def close(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            for table in _TABLES:
                conn.execute(f"DROP TABLE IF EXISTS public.floor_{table}")


def figures(seconds: float, rounds: int, callers: int = 32) -> dict[str, Any]:
    url = fresh_database("oms_bench_writer")
    writer = Writer(url)
    try:
        writer.run(callers, 2)  # warm the caches; also the orders the floor copies
        floor = Floor(url)
        ours: list[Ours] = []
        floors: dict[int, list[float]] = {n: [] for n in FLOOR_BATCHES}
        for turn in range(rounds):
            steps: list[Any] = [lambda: ours.append(writer.run(callers, seconds))]
            steps += [lambda n=n: floors[n].append(floor.run(n, seconds / 2)) for n in FLOOR_BATCHES]
            for step in steps if turn % 2 == 0 else reversed(steps):
                step()
        floor.close()
        best = max(FLOOR_BATCHES)
        median = statistics.median(o.per_second for o in ours)
        return {
            "callers": callers,
            "rounds": [asdict(o) for o in ours],
            "per_second": median,
            "p99_ms": statistics.median(o.p99_ms for o in ours),
            "events_per_order": floor.per_order,
            "floor_per_second": {str(n): statistics.median(v) for n, v in floors.items()},
            "ratio_to_floor": median / statistics.median(floors[best]),
        }
    finally:
        writer.close()
        drop_database("oms_bench_writer")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--callers", type=int, default=32)
    args = parser.parse_args()
    found = figures(args.seconds, args.rounds, args.callers)
    for o in found["rounds"]:
        print(
            f"ours   {o['per_second']:>8,.0f} orders/s  p50 {o['p50_ms']:5.1f} ms  p99 {o['p99_ms']:5.1f} ms"
            f"  {o['orders_per_commit']:5.1f} per commit  CPU/order: ours {o['cpu_us_per_order']:.0f} us,"
            f" PostgreSQL {o['postgres_cpu_us_per_order']:.0f} us"
        )
    floors = ", ".join(f"{n} per transaction {v:,.0f}/s" for n, v in found["floor_per_second"].items())
    print(f"floor  {floors}  ({found['events_per_order']:.1f} events per order)")
    print(
        f"median ours {found['per_second']:,.0f} orders/s, p99 {found['p99_ms']:.1f} ms;"
        f" ratio to the {max(FLOOR_BATCHES)}-order floor {found['ratio_to_floor']:.3f}"
    )


if __name__ == "__main__":
    main()
