"""The cost of the money model: place-order with price terms beside the plain one.

Two measurements, each alternating plain and priced runs on one database (each round the other
one first) so the machine's noise and the database's growth fall on both alike:

* over HTTP (``oms serve`` with group commit, wrk at 16 clients), the plain body of
  ``place_order.lua`` against ``place_order_priced.lua`` (a discount and 20% VAT on each of the
  three lines, an order discount allocated over them, a shipping line with VAT);
* in process, the writer's pipeline alone: batches of 256 orders of the same two shapes through
  ``Pipeline.run`` on PostgreSQL, which leaves out HTTP and shows what pricing adds to deciding,
  encoding and writing.

Usage: ``python -m bench.money [--seconds 10] [--rounds 2]`` (step 1b of ``make bench``).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from decimal import Decimal
from typing import Any, TypeVar

import psutil

from api.database import ledger_env
from bench import http_orders
from bench.common import api_key, drop_database, fresh_database, server
from commands import messages as m
from commands.contracts import CommandContext
from commands.ledger import Ledger
from commands.pipeline import Pipeline
from domain.locations import LocationKind
from domain.pricing import Discount, ShippingTerms, TaxRate

PRICED = http_orders.SCRIPT.with_name("place_order_priced.lua")
BATCH = 256
VAT = (TaxRate("VAT", Decimal("0.2")),)
T = TypeVar("T")


def _cpu_seconds() -> tuple[float, float]:
    """CPU time so far of the service's processes (``oms serve`` and every process it started)
    and of PostgreSQL's: per order, it leaves out the load generator, which shares the cores."""
    ours = pg = 0.0
    for process in psutil.process_iter(["name", "cmdline"]):
        try:
            cmdline = process.info["cmdline"] or []
            if process.info["name"] == "postgres":
                times = process.cpu_times()
                pg += times.user + times.system
            elif cmdline[1:4] == ["-m", "api", "serve"]:
                for each in (process, *process.children(recursive=True)):
                    times = each.cpu_times()
                    ours += times.user + times.system
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return ours, pg


def http_figures(url: str, seconds: int, rounds: int, clients: int = 16) -> dict[str, Any]:
    key = api_key(url, "integrator")
    env = {"OMS_GROUP_COMMIT": "true", "OMS_HTTP_WORKERS": "2", "OMS_ACCESS_LOG": "false", "OMS_POOL_SIZE": "16"}
    plain: list[float] = []
    priced: list[float] = []
    cpu: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    errors = 0
    with server(url, env) as base:
        http_orders.stock_up(base, key)
        http_orders.wrk(base, key, 8, 3)
        for n in range(rounds):
            # Each round the other one first: the database grows, and later runs are slower.
            for is_priced, script, into in _turns(((False, http_orders.SCRIPT, plain), (True, PRICED, priced)), n):
                before = _cpu_seconds()
                run = http_orders.wrk(base, key, clients, seconds, script)
                after = _cpu_seconds()
                orders = run.per_second * seconds
                cpu[is_priced].append(((after[0] - before[0]) / orders, (after[1] - before[1]) / orders))
                into.append(run.per_second)
                errors += run.errors

    def per_order(priced: bool, i: int) -> float:
        return statistics.mean(x[i] for x in cpu[priced]) * 1e6

    return _ratio(plain, priced) | {
        "clients": clients,
        "seconds": seconds,
        "errors": errors,
        "service_cpu_us_per_order": {"plain": per_order(False, 0), "priced": per_order(True, 0)},
        "postgres_cpu_us_per_order": {"plain": per_order(False, 1), "priced": per_order(True, 1)},
        "cpu_priced_over_plain": (per_order(True, 0) + per_order(True, 1))
        / (per_order(False, 0) + per_order(False, 1)),
    }


def _order(n: int, priced: bool) -> m.PlaceOrder:
    skus = random.sample(range(1, http_orders.SKUS + 1), 3)
    prices = ("2.50", "3.10", "1.25")
    lines = tuple(
        m.OrderLine(
            sku=f"S{sku}",
            quantity=1,
            unit_price=Decimal(price),
            discounts=(Discount("LINE", Decimal("0.25")),) if priced else (),
            taxes=VAT if priced else (),
        )
        for sku, price in zip(skus, prices, strict=True)
    )
    return m.PlaceOrder(
        order_id=f"{'p' if priced else 'o'}{n}",
        channel="web",
        customer_id=f"C-{n % 1000}",
        currency="GBP",
        lines=lines,
        discounts=(Discount("ORDER", Decimal("1.00")),) if priced else (),
        shipping=(ShippingTerms("standard", Decimal("3.99"), taxes=VAT),) if priced else (),
    )


def pipeline_figures(url: str, batches: int, rounds: int) -> dict[str, Any]:
    ledger = Ledger(env=ledger_env(url, pool_size=2))
    pipeline = Pipeline(ledger, trusted=True)
    try:
        ctx = CommandContext()
        pipeline.run(
            [(m.RegisterLocation(location_id="main", name="Main", kind=LocationKind.WAREHOUSE, priority=1), ctx)]
        )
        for start in range(1, http_orders.SKUS + 1, BATCH):
            stock = [
                (m.ReceiveStock(sku=f"S{n}", location_id="main", quantity=1_000_000), ctx)
                for n in range(start, min(start + BATCH, http_orders.SKUS + 1))
            ]
            pipeline.run(stock)
        plain: list[float] = []
        priced: list[float] = []
        n = 0
        for turn in range(rounds):
            for is_priced, into in _turns(((False, plain), (True, priced)), turn):
                started = time.perf_counter()
                for _ in range(batches):
                    answers = pipeline.run([(_order(n + i, is_priced), ctx) for i in range(BATCH)])
                    n += BATCH
                    failed = [a for a in answers if isinstance(a, Exception)]
                    if failed:
                        raise RuntimeError(f"orders failed: {failed[:3]}")
                into.append(batches * BATCH / (time.perf_counter() - started))
    finally:
        ledger.close()
    return _ratio(plain, priced) | {"batch": BATCH, "orders_per_run": batches * BATCH}


def _turns(pair: tuple[T, T], n: int) -> tuple[T, T]:
    """The pair, or the pair the other way round on odd rounds."""
    return pair if n % 2 == 0 else (pair[1], pair[0])


def _ratio(plain: list[float], priced: list[float]) -> dict[str, Any]:
    return {
        "plain_per_second": plain,
        "priced_per_second": priced,
        "priced_over_plain": statistics.mean(priced) / statistics.mean(plain),
    }


def figures(seconds: int, rounds: int, batches: int = 20) -> dict[str, Any]:
    url = fresh_database("oms_bench_money")
    try:
        return {"http": http_figures(url, seconds, rounds), "pipeline": pipeline_figures(url, batches, rounds)}
    finally:
        drop_database("oms_bench_money")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batches", type=int, default=20)
    args = parser.parse_args()
    found = figures(args.seconds, args.rounds, args.batches)
    for name, row in found.items():
        plain = ", ".join(f"{x:,.0f}" for x in row["plain_per_second"])
        priced = ", ".join(f"{x:,.0f}" for x in row["priced_per_second"])
        print(f"{name:8} plain {plain} /s; priced {priced} /s; priced/plain {row['priced_over_plain']:.3f}")
        if "cpu_priced_over_plain" in row:
            ours, pg = row["service_cpu_us_per_order"], row["postgres_cpu_us_per_order"]
            print(
                f"         CPU per order, service {ours['plain']:.0f} -> {ours['priced']:.0f} us, PostgreSQL"
                f" {pg['plain']:.0f} -> {pg['priced']:.0f} us: priced/plain {row['cpu_priced_over_plain']:.3f}"
            )


if __name__ == "__main__":
    main()
