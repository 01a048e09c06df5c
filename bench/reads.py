"""Read latency over HTTP at data-set size: one order, a timeline, a SKU's stock, a month of KPIs;
and as-of reads of one order and of a stock item with 100,000 events."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import psycopg

from bench.common import percentile
from commands import messages as m
from commands.contracts import CommandContext
from commands.group_commit import InlineWriter
from commands.ledger import Ledger
from commands.pipeline import Pipeline
from domain.errors import LedgerError
from domain.stock import AdjustmentReason


@dataclass(frozen=True)
class Latency:
    name: str
    requests: int
    p50_ms: float
    p99_ms: float


def measure(name: str, client: httpx.Client, paths: Callable[[], str], requests: int) -> Latency:
    for _ in range(min(50, requests)):  # warm up connections and caches
        client.get(paths())
    timings = []
    for _ in range(requests):
        path = paths()
        started = time.perf_counter()
        answer = client.get(path)
        timings.append(time.perf_counter() - started)
        if answer.status_code != 200:
            raise RuntimeError(f"GET {path}: {answer.status_code} {answer.text[:200]}")
    return Latency(name, requests, percentile(timings, 50) * 1000, percentile(timings, 99) * 1000)


def samples(url: str) -> tuple[list[str], list[str], list[str]]:
    with psycopg.connect(url) as conn:
        orders = [r[0] for r in conn.execute("SELECT order_id FROM read.orders ORDER BY random() LIMIT 2000")]
        skus = [r[0] for r in conn.execute("SELECT sku FROM read.stock_totals ORDER BY random() LIMIT 2000")]
        months = [
            r[0].strftime("%Y-%m")
            for r in conn.execute("SELECT DISTINCT date_trunc('month', day) FROM read.fulfillment_daily ORDER BY 1")
        ]
    return orders, skus, months


def query_latencies(base: str, url: str, key: str, requests: int) -> list[Latency]:
    orders, skus, months = samples(url)
    pick = random.Random(7).choice

    def month() -> str:
        start = datetime.strptime(pick(months), "%Y-%m").replace(tzinfo=UTC)
        last = (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)  # "to" is inclusive
        return f"/v1/kpis/fulfillment?granularity=month&from={start.date()}&to={last.date()}"

    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
        return [
            measure("one order", client, lambda: f"/v1/orders/{pick(orders)}", requests),
            measure("one timeline", client, lambda: f"/v1/orders/{pick(orders)}/timeline", requests),
            measure("stock of one SKU", client, lambda: f"/v1/stock/{pick(skus)}", requests),
            measure("KPIs for one month", client, month, requests),
        ]


def hot_item(ledger: Ledger, location: str, events: int, chunk: int = 100) -> tuple[datetime, datetime]:
    """One SKU at one location with ``events`` events (adjustments of +1 and -1); their time span.

    A group commit snapshots an aggregate once, at its state after the batch, so a chunk of
    100 commands keeps the stock item's snapshot interval of 100 events, as traffic that
    spreads over many aggregates does."""
    start = datetime.now(UTC) - timedelta(days=365)
    step = timedelta(days=365) / events
    pipeline = Pipeline(ledger)
    InlineWriter(pipeline).execute(m.ReceiveStock(sku="HOT", location_id=location, quantity=10, occurred_at=start))
    for first in range(1, events, chunk):
        items: list[tuple[m.Command, CommandContext]] = [
            (
                m.AdjustStock(
                    sku="HOT",
                    location_id=location,
                    reason=AdjustmentReason.CORRECTION,
                    delta=1 if n % 2 else -1,
                    occurred_at=start + n * step,
                ),
                CommandContext(),
            )
            for n in range(first, min(first + chunk, events))
        ]
        failed = [o for o in pipeline.run(items) if isinstance(o, LedgerError)]
        if failed:
            raise RuntimeError(f"hot item: {failed[0]}")
    return start, start + events * step


def as_of_latencies(
    base: str, key: str, location: str, span: tuple[datetime, datetime], *, order_ids: list[str], requests: int
) -> list[Latency]:
    rng = random.Random(11)
    start, end = span

    def moment() -> str:
        return (start + (end - start) * rng.random()).isoformat().replace("+00:00", "Z")

    def hot() -> str:
        return f"/v1/stock/HOT/{location}/as-of?at={moment()}"

    def order() -> str:
        return f"/v1/orders/{rng.choice(order_ids)}/as-of?at={datetime.now(UTC).isoformat().replace('+00:00', 'Z')}"

    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
        return [
            measure("as-of, hot item (100,000 events)", client, hot, requests),
            measure("as-of, one order", client, order, requests),
        ]
