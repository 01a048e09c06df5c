"""The peer built as the eventsourcing library's documentation teaches, on the same workload.

A stock item and an order are aggregates of an ``Application`` stored in PostgreSQL; placing an
order gets its three stock items (``repository.get``), reserves one unit on each (the aggregate
refuses more than is available), creates the order and saves the four in one transaction
(``Application.save``), which the stored versions make fail when another caller saved one of
them first: then the caller gets them again and retries. ``callers`` threads for ``seconds``.

What it guarantees beside ours: each order is atomic and no stock item is oversold, as ours;
no idempotency, no hash chain or seals, no time index, and a conflict costs a retry rather than
waiting its turn in a batch.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from dataclasses import dataclass

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError
from psycopg.conninfo import conninfo_to_dict

from bench.common import in_threads, percentile

NAMESPACE = uuid.UUID("6f1c1a52-93a5-4b0b-9d54-1f5d4a0b2c11")


class StockItem(Aggregate):
    @event("Received")
    def __init__(self, sku: str, quantity: int) -> None:
        self.sku = sku
        self.available = quantity

    @staticmethod
    def create_id(sku: str) -> uuid.UUID:
        return uuid.uuid5(NAMESPACE, sku)

    def reserve(self, quantity: int) -> None:
        if quantity > self.available:
            raise ValueError(f"{self.sku}: {self.available} available")
        self._reserved(quantity)

    @event("Reserved")
    def _reserved(self, quantity: int) -> None:
        self.available -= quantity


class Order(Aggregate):
    @event("Placed")
    def __init__(self, order_id: str, lines: list[tuple[str, int]]) -> None:
        self.order_id = order_id
        self.lines = lines


class Shop(Application):
    def place(self, order_id: str, skus: list[str]) -> None:
        items = [self.repository.get(StockItem.create_id(sku)) for sku in skus]
        for item in items:
            item.reserve(1)
        self.save(Order(order_id, [(sku, 1) for sku in skus]), *items)


@dataclass(frozen=True)
class Figures:
    per_second: float
    p50_ms: float
    p99_ms: float
    conflicts_per_order: float


def _environment(url: str, callers: int) -> dict[str, str]:
    parts = conninfo_to_dict(url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(parts.get("dbname", "postgres")),
        "POSTGRES_HOST": str(parts.get("host", "127.0.0.1")),
        "POSTGRES_PORT": str(parts.get("port", "5432")),
        "POSTGRES_USER": str(parts.get("user", "postgres")),
        "POSTGRES_PASSWORD": str(parts.get("password", "")),
        "POSTGRES_POOL_SIZE": str(callers),  # a connection for each caller, as ours has its writer's
        "CREATE_TABLE": "true",
    }


def run(url: str, skus: int, callers: int, seconds: float) -> Figures:
    shop = Shop(env=_environment(url, callers))
    try:
        for n in range(1, skus + 1):
            if n % 250 == 1:
                shop.save(*(StockItem(f"S{k}", 10_000_000) for k in range(n, min(n + 250, skus + 1))))
        return _measure(shop, skus, callers, seconds)
    finally:
        shop.close()


def _measure(shop: Shop, skus: int, callers: int, seconds: float) -> Figures:
    latencies: list[float] = []
    conflicts = [0]
    gather = threading.Lock()
    serial = iter(range(10**9))
    stop = time.monotonic() + seconds

    def work() -> None:
        mine, retried = [], 0
        while time.monotonic() < stop:
            order_id = f"o{next(serial)}"
            chosen = [f"S{k}" for k in random.sample(range(1, skus + 1), 3)]
            started = time.perf_counter()
            while True:
                try:
                    shop.place(order_id, chosen)
                    break
                except IntegrityError:
                    retried += 1
            mine.append(time.perf_counter() - started)
        with gather:
            latencies.extend(mine)
            conflicts[0] += retried

    elapsed = in_threads(callers, work)
    return Figures(
        len(latencies) / elapsed,
        percentile(latencies, 50) * 1000,
        percentile(latencies, 99) * 1000,
        conflicts[0] / max(1, len(latencies)),
    )
