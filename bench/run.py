"""Every benchmark in one run, each beside its floor measured in the same run: ``make bench``.

1. place-order over HTTP from 1, 8, 32 and 64 clients (wrk), with group commit and
   without, beside raw psycopg writing as many rows per transaction; 1b. place-order with price
   terms (discounts, taxes, shipping) beside the plain one, over HTTP and through the pipeline;
   1c. place-order in process through the group-commit writer at 32 callers, beside one psycopg
   writer inserting the same rows 16, 256 and 1,024 orders per transaction; 1d. the same
   workload on the peers (the eventsourcing library as its docs teach, Emmett on PostgreSQL);
2. the whole data set imported with ``oms import``, beside a COPY of as many event rows;
3. projection catch-up on that ledger;
4. read latency at that size; 5. as-of latency, one order and a stock item with 100,000 events;
6. webhook deliveries per second with 1 and 10 subscriptions, and 10 subscriptions' cost to placing orders.

Writes ``bench/results/latest.json``, ``latest.md`` (the README's table) and ``throughput.png``.
Usage: ``python -m bench.run [--seconds 15] [--invoices N] [--keep]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from api.database import ledger_env
from bench import audit, http_orders, import_copy, money, peers, reads, webhooks, writer
from bench.common import api_key, drop_database, fresh_database, server
from bench.online_retail import WHERE_TO_GET_IT, DatasetMissing, find_dataset
from bench.projections import catch_up
from commands.ledger import Ledger
from projections.events import make_mapper
from projections.registry import all_projections
from projections.runner import ProjectionRunner

RESULTS = Path(__file__).with_name("results")
CLIENTS = [1, 8, 32, 64]
HOT_EVENTS = 100_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15, help="each HTTP and floor run")
    parser.add_argument("--invoices", type=int, default=None, help="import only the first N invoices")
    parser.add_argument("--requests", type=int, default=2000, help="reads per latency figure")
    parser.add_argument("--hot-events", type=int, default=HOT_EVENTS, help="events of the hot stock item")
    parser.add_argument("--dataset", type=Path, default=None, help="the full data set (default: OMS_RETAIL_DATASET)")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark databases")
    parser.add_argument("--rewrite", action="store_true", help="only redo the table and plot from latest.json")
    args = parser.parse_args()
    if args.rewrite:
        rewrite()
        return
    try:  # before the first benchmark, so a missing data set costs no waiting
        dataset = args.dataset or find_dataset()
        if not dataset.is_file():
            raise DatasetMissing(f"{dataset} is not a file; it should be {WHERE_TO_GET_IT}")
    except DatasetMissing as missing:
        print(f"error: {missing}", file=sys.stderr)
        raise SystemExit(2) from None
    RESULTS.mkdir(exist_ok=True)
    results: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "command": "make bench",
    }
    http(results, args.seconds, args.keep)
    print("1b. place-order with price terms beside the plain one", flush=True)
    results["money"] = money.figures(min(args.seconds, 10), rounds=2)
    for name, row in results["money"].items():
        print(f"   {name:8} priced/plain {row['priced_over_plain']:.3f}", flush=True)
    print("1c. place-order in process through the writer, beside one writer of the same rows", flush=True)
    results["writer"] = found = writer.figures(min(args.seconds, 8), rounds=3)
    print(
        f"   {found['per_second']:,.0f} orders/s, p99 {found['p99_ms']:.1f} ms;"
        f" {found['ratio_to_floor']:.3f} of the 1,024-order floor",
        flush=True,
    )
    print("1d. the same workload on the peers", flush=True)
    results["peers"] = peers.figures(min(args.seconds, 8), rounds=3)
    for peer, row in results["peers"]["medians"].items():
        print(f"   {peer:14} {row['per_second']:,.0f} orders/s, x{row['ratio_to_ours']:.3f} of ours", flush=True)
    url, name = imports(results, args.invoices, dataset)
    print("3. projection catch-up", flush=True)
    results["catch_up"] = [
        {"projection": n, "events": c, "seconds": s, "events_per_second": c / s} for n, c, s in catch_up(url)
    ]
    for row in results["catch_up"]:
        print(f"   {row['projection']:8} {row['events_per_second']:>10,.0f} events/s", flush=True)
    print("3b. tamper evidence: verify, and checking a hot item's snapshot", flush=True)
    results["audit"] = {**audit.verify_figures(url), "hot_snapshot": audit.hot_snapshot(url)}
    latencies(results, url, args.requests, args.hot_events)
    print("6. webhooks: deliveries per second, and what 10 subscriptions cost placing orders", flush=True)
    results["webhooks"] = webhooks.figures(min(args.seconds, 8), rounds=2)
    if not args.keep:
        drop_database(name)
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=2))
    (RESULTS / "latest.md").write_text(table(results))
    plot(results, RESULTS / "throughput.png")
    print(table(results))


def http(results: dict[str, Any], seconds: int, keep: bool) -> None:
    print("1. place-order over HTTP", flush=True)
    url = fresh_database("oms_bench_http")
    results["http_group"] = [asdict(r) for r in http_orders.http_runs(url, CLIENTS, seconds, group_commit=True)]
    _show(results["http_group"])
    single = fresh_database("oms_bench_http_single")
    results["http_single"] = [asdict(r) for r in http_orders.http_runs(single, CLIENTS, seconds, group_commit=False)]
    _show(results["http_single"])
    results["rows_per_order"] = rows = http_orders.rows_per_order(url)
    results["http_floor"] = [asdict(r) for r in http_orders.floor_runs(url, CLIENTS, seconds, rows)]
    _show(results["http_floor"])
    if not keep:
        drop_database("oms_bench_http")
        drop_database("oms_bench_http_single")


def imports(results: dict[str, Any], invoices: int | None, dataset: Path) -> tuple[str, str]:
    print("2. import of the data set", flush=True)
    suffix = f"-{invoices}" if invoices else ""
    source = import_copy.commands_file(RESULTS / f"retail-keyed{suffix}.ndjson.gz", invoices, dataset)
    name = "oms_bench_import" + suffix.replace("-", "_")
    url = fresh_database(name)
    imported = import_copy.run_import(url, source)
    floor = import_copy.copy_floor(url)
    results["import"] = {**asdict(imported), "events_per_second": imported.events_per_second}
    results["copy"] = {**asdict(floor), "events_per_second": floor.events_per_second}
    print(
        f"   import {imported.events:,} events in {imported.seconds:.0f} s: {imported.events_per_second:,.0f}/s;"
        f" COPY {floor.events_per_second:,.0f}/s",
        flush=True,
    )
    return url, name


def latencies(results: dict[str, Any], url: str, requests: int, hot_events: int) -> None:
    print("4-5. reads and as-of", flush=True)
    mapper = make_mapper()
    for projection in all_projections(mapper).values():  # the live read models the reads use
        ProjectionRunner(projection, url, mapper).run_until_caught_up()
    key = api_key(url, "admin")
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT location_id FROM read.locations LIMIT 1").fetchone()
        order_ids = [r[0] for r in conn.execute("SELECT order_id FROM read.orders ORDER BY random() LIMIT 500")]
    location = row[0] if row else "main"
    ledger = Ledger(env=ledger_env(url, pool_size=2))
    span = reads.hot_item(ledger, location, hot_events)
    ledger.close()
    with server(url) as base:
        measured = reads.query_latencies(base, url, key, requests)
        measured += reads.as_of_latencies(base, key, location, span, order_ids=order_ids, requests=requests)
    results["latency"] = [asdict(x) for x in measured]
    for x in measured:
        print(f"   {x.name:34} p50 {x.p50_ms:6.1f} ms  p99 {x.p99_ms:6.1f} ms", flush=True)


def rewrite() -> None:
    """The table and the plot again, from ``latest.json``: ``python -m bench.run --rewrite``."""
    results = json.loads((RESULTS / "latest.json").read_text())
    (RESULTS / "latest.md").write_text(table(results))
    plot(results, RESULTS / "throughput.png")


def _show(runs: list[dict[str, Any]]) -> None:
    for r in runs:
        print(
            f"   {r['clients']:>3} clients {r['per_second']:>8,.0f}/s  p50 {r['p50_ms']:6.1f} ms  "
            f"p99 {r['p99_ms']:6.1f} ms  errors {r['errors']}",
            flush=True,
        )


def table(results: dict[str, Any]) -> str:
    lines = [
        f"Measured {results['when']} on {results['machine']}; PostgreSQL on the same machine, durable commits.",
        "",
        "| benchmark | ours | floor (same run) | goal |",
        "|---|---|---|---|",
    ]
    for ours, single, floor in zip(results["http_group"], results["http_single"], results["http_floor"], strict=True):
        lines.append(
            f"| place-order over HTTP, {_clients(ours['clients'])} | {_rate(ours)} (one transaction per command:"
            f" {_rate(single)}) | psycopg, {results['rows_per_order']} rows per transaction: {_rate(floor)}"
            " | 1,000/s at p99 <= 50 ms |"
        )
    if "money" in results:
        for name, what in (("http", "over HTTP, 16 clients"), ("pipeline", "through the writer's pipeline")):
            row = results["money"][name]
            plain = sum(row["plain_per_second"]) / len(row["plain_per_second"])
            priced = sum(row["priced_per_second"]) / len(row["priced_per_second"])
            lines.append(
                f"| place-order with discounts, taxes and shipping, {what} | {priced:,.0f}/s"
                f" ({row['priced_over_plain']:.2f} of plain) | plain orders, same run: {plain:,.0f}/s"
                " | >= 0.90 of plain |"
            )
    if "writer" in results:
        w = results["writer"]
        floors = w["floor_per_second"]
        per_commit = sum(r["orders_per_commit"] for r in w["rounds"]) / len(w["rounds"])
        lines.append(
            f"| place-order in process through the writer, {w['callers']} callers | {w['per_second']:,.0f}/s,"
            f" p99 {w['p99_ms']:.1f} ms ({per_commit:.1f} orders per commit; {w['ratio_to_floor']:.2f} of the floor)"
            f" | one psycopg writer, the same rows, 16 / 256 / 1,024 orders per transaction: {floors['16']:,.0f}"
            f" / {floors['256']:,.0f} / {floors['1024']:,.0f}/s | >= 5,000/s (>= 0.4 of the floor), p99 <= 20 ms |"
        )
    if "peers" in results:
        named = {"eventsourcing": "the eventsourcing library as its docs teach", "emmett": "Emmett on PostgreSQL"}
        ours = results["peers"]["medians"]["ours"]
        for peer, row in results["peers"]["medians"].items():
            if peer != "ours":
                lines.append(
                    f"| place-order, {named.get(peer, peer)}, 32 callers | {row['per_second']:,.0f}/s,"
                    f" p99 {row['p99_ms']:.0f} ms | ours in the same run: {ours['per_second']:,.0f}/s"
                    f" (x{1 / row['ratio_to_ours']:.1f}) | |"
                )
    imp, copy = results["import"], results["copy"]
    lines.append(
        f"| import, {imp['commands']:,} commands, {imp['events']:,} events | {imp['events_per_second']:,.0f} events/s"
        f" ({imp['seconds']:.0f} s, {imp['failed']} failed) | COPY of the event rows:"
        f" {copy['events_per_second']:,.0f}/s | 20,000 events/s |"
    )
    for row in results["catch_up"]:
        rate = f"{row['events_per_second']:,.0f} events/s ({row['seconds']:.0f} s)"
        if row["projection"] == "together":
            rate = (
                f"{row['events_per_second']:,.0f} ledger events/s through all of them at once ({row['seconds']:.0f} s)"
            )
            lines.append(f"| catch-up, all projections together | {rate} | | |")
        else:
            lines.append(f"| catch-up, {row['projection']} | {rate} | | 10,000 events/s |")
    if "audit" in results:
        a, hot = results["audit"], results["audit"]["hot_snapshot"]
        walked = a.get("walk_here_events_per_second")
        lines.append(
            f"| `oms audit verify`, chain and seals, {a['events']:,} events | {a['verify_events_per_second']:,.0f}"
            f" events/s ({a['verify_seconds']:.0f} s; rows beside the events {a['row_checks_seconds']:.0f} s)"
            f" | reading the same rows here: {a['read_rows_per_second']:,.0f}/s"
            + (f"; every hash recomputed here (`--here`): {walked:,.0f}/s" if walked else "")
            + " | 300,000 events/s |"
        )
        for added, seconds in a.get("since_checkpoint_seconds", {}).items():
            lines.append(
                f"| `oms audit verify --since-checkpoint`, {int(added):,} events after it | {seconds:.2f} s | | |"
            )
        if hot:
            lines.append(
                f"| loading a hot stock item's snapshot, checked | {hot['checked_snapshot_us']:.0f} us"
                f" (+{hot['check_cost_us']:.0f} us) | read alone: {hot['raw_snapshot_us']:.0f} us | |"
            )
    goals = {
        "one order": "p99 <= 20 ms",
        "one timeline": "p99 <= 20 ms",
        "as-of, hot item (100,000 events)": "<= 10 ms",
    }
    for x in results["latency"]:
        lines.append(
            f"| {x['name']} | p50 {x['p50_ms']:.1f} ms, p99 {x['p99_ms']:.1f} ms | | {goals.get(x['name'], '')} |"
        )
    for row in results.get("webhooks", {}).get("delivery", []):
        lines.append(f"| webhook deliveries, {row['subscriptions']} subscriptions | {row['per_second']:,.0f}/s | | |")
    if "webhooks" in results:
        ratio = results["webhooks"]["place_order"]["ratio"]
        lines.append(f"| place-order with 10 webhook subscriptions / with none | {ratio:.3f} | | >= 0.95 |")
    return "\n".join(lines) + "\n"


def _clients(n: int) -> str:
    return f"{n} client" if n == 1 else f"{n} clients"


def _rate(run: dict[str, Any]) -> str:
    return f"{run['per_second']:,.0f}/s, p50 {run['p50_ms']:.1f} ms, p99 {run['p99_ms']:.1f} ms"


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.2), dpi=110)
    for key, label, style in (
        ("http_floor", f"floor: psycopg, {results['rows_per_order']} rows/transaction", "k--"),
        ("http_group", "place-order over HTTP, group commit", "C0-o"),
        ("http_single", "place-order over HTTP, one transaction each", "C1-s"),
    ):
        runs = results[key]
        axis.plot([r["clients"] for r in runs], [r["per_second"] for r in runs], style, label=label)
    axis.axhline(1000, color="C2", linewidth=0.8, label="goal: 1,000/s")
    axis.set_xscale("log", base=2)
    axis.set_xticks(CLIENTS, [str(c) for c in CLIENTS])
    axis.set_xlabel("concurrent clients")
    axis.set_ylabel("commands per second")
    axis.set_title("Throughput against concurrent clients")
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)


if __name__ == "__main__":
    main()
