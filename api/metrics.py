"""Prometheus metrics: what the service counts, and ``GET /metrics``.

With ``oms serve --workers N`` every process writes its samples to files under
``PROMETHEUS_MULTIPROC_DIR`` (set by ``oms serve`` before anything imports the client), and a
scrape of any process adds them up (prometheus-client's multiprocess mode). Gauges that are
read at scrape time (projection positions and lags, pool use) come from the answering
process and the database. Labels are bounded: route templates, command names, error codes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from psycopg_pool import ConnectionPool

from api.webhooks.store import gauges as webhook_gauges
from commands.contracts import Observer
from commands.ledger import Ledger
from commands.seals import Rejected
from projections.admin import lags, statuses
from queries.orders import orders_on_hold


class Scraped(Protocol):
    """What a scrape reads live: the composition root's container."""

    @property
    def pool(self) -> ConnectionPool: ...
    @property
    def ledger(self) -> Ledger: ...
    @property
    def replica(self) -> ConnectionPool | None: ...
    def projection_names(self) -> list[str]: ...


CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics(Observer):
    """The service's counters and histograms, made once per process by the composition root."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = Counter(
            "oms_http_requests", "HTTP requests answered.", ["method", "route", "status"], registry=r
        )
        self.http_duration = Histogram(
            "oms_http_request_duration_seconds",
            "Time to answer an HTTP request.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.commands = Counter("oms_commands", "Commands answered, by result code.", ["command", "result"], registry=r)
        self.batch_size = Histogram(
            "oms_group_commit_batch_commands",
            "Commands saved in one group commit.",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048),
            registry=r,
        )
        self.batch_seconds = Histogram(
            "oms_group_commit_save_seconds",
            "Time to run and save one group commit.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.conflicts = Counter(
            "oms_version_conflict_retries", "Commands or batches run again after losing to another writer.", registry=r
        )
        self.prefetch_misses = Counter(
            "oms_prefetch_misses",
            "Streams a command asked for that its declared reads did not name (a defect to fix).",
            registry=r,
        )
        self.import_lines = Counter("oms_import_lines", "Import lines, by result code.", ["result"], registry=r)
        self.untrusted_rows = Counter(
            "oms_untrusted_rows",
            "Stored rows not used because their seal did not check (snapshot, idempotency).",
            ["kind"],
            registry=r,
        )
        self.webhook_attempts = Counter(
            "oms_webhook_attempts",
            "Webhook delivery attempts, by result (delivered, failed, dead).",
            ["result"],
            registry=r,
        )
        self.webhook_seconds = Histogram(
            "oms_webhook_attempt_seconds",
            "Time for a receiver to answer a webhook.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.notifications = Counter(
            "oms_notifications",
            "Customer emails, by kind and result (sent, skipped, failed).",
            ["kind", "result"],
            registry=r,
        )
        self.lost_writes = Counter(
            "oms_write_connection_lost",
            "Batches whose connection was lost while saving (a restart, a failover), by what the"
            " writer then found: saved (the commit had gone through) or unsaved (written again).",
            ["found"],
            registry=r,
        )
        self.batch_writes = Counter(
            "oms_write_batches",
            "Batches saved, by how: append (the one writer's, in one round trip) or under_lock (the head"
            " read under the table lock first: the first batch, one after another writer's, or a database"
            " without ledger.expect_head).",
            ["path"],
            registry=r,
        )
        self.checkpoints = Counter(
            "oms_checkpoints", "Checkpoints this process tried to sign, by outcome.", ["outcome"], registry=r
        )

    # What the write side reports (``commands.contracts.Observer``).
    def batch_saved(self, commands: int, seconds: float) -> None:
        self.batch_size.observe(commands)
        self.batch_seconds.observe(seconds)

    def command_answered(self, command: str, result: str) -> None:
        self.commands.labels(command, result).inc()

    def conflict(self) -> None:
        self.conflicts.inc()

    def prefetch_missed(self, streams: int) -> None:
        self.prefetch_misses.inc(streams)

    def row_rejected(self, rejected: Rejected) -> None:
        self.untrusted_rows.labels(rejected.kind.value).inc()

    def batch_written(self, path: str) -> None:
        self.batch_writes.labels(path).inc()

    def write_connection_lost(self, saved: bool) -> None:
        self.lost_writes.labels("saved" if saved else "unsaved").inc()

    def imported(self, results: Iterable[dict[str, Any]]) -> None:
        for result in results:
            self.import_lines.labels("replayed" if result.get("replayed") else result.get("code", "ok")).inc()

    def webhook_attempted(self, result: str, seconds: float) -> None:
        self.webhook_attempts.labels(result).inc()
        self.webhook_seconds.observe(seconds)

    def notified(self, kind: str, result: str) -> None:
        self.notifications.labels(kind, result).inc()

    def exposition(self, container: Scraped) -> bytes:
        """The text a scrape reads: this process's (or every process's) samples, and the live gauges."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        else:
            registry = self.registry
        scrape = CollectorRegistry()
        scrape.register(_Registered(registry))
        scrape.register(_Live(container))
        return generate_latest(scrape)


class _Registered(Collector):
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        yield from self.registry.collect()


class _Live(Collector):
    """Gauges read when scraped: projection positions and lags, and connection pools."""

    def __init__(self, container: Scraped) -> None:
        self.container = container

    def collect(self) -> Iterator[Metric]:
        position = GaugeMetricFamily("oms_projection_position", "Last ledger position applied.", labels=["projection"])
        lag_events = GaugeMetricFamily(
            "oms_projection_lag_events", "Ledger events not yet applied.", labels=["projection"]
        )
        lag_seconds = GaugeMetricFamily(
            "oms_projection_lag_seconds",
            "Recorded time of the ledger's last event minus that of the last one applied.",
            labels=["projection"],
        )
        on_hold = GaugeMetricFamily("oms_orders_on_hold", "Orders with an open hold (the hold queue).")
        try:
            with self.container.pool.connection(timeout=1) as conn:
                for lag in lags(conn, self.container.projection_names()):
                    position.add_metric([lag.name], lag.position)
                    lag_events.add_metric([lag.name], lag.events)
                    lag_seconds.add_metric([lag.name], lag.seconds)
                on_hold.add_metric([], orders_on_hold(conn))
                hooks = webhook_gauges(conn)
        except Exception:  # noqa: BLE001 - a scrape while the database is away still shows the rest
            hooks = []
        yield from (position, lag_events, lag_seconds, on_hold, *hooks)
        if self.container.replica is not None:
            yield self._standby(self.container.replica, {m.labels["projection"]: m.value for m in position.samples})
        pools = GaugeMetricFamily(
            "oms_db_pool_connections", "Connections of this process's pools.", labels=["pool", "state"]
        )
        ledger_pool = getattr(getattr(self.container.ledger.recorder, "datastore", None), "pool", None)
        named = (("ledger", ledger_pool), ("reads", self.container.pool), ("standby", self.container.replica))
        for name, pool in named:
            if pool is None:
                continue
            stats = pool.get_stats()
            pools.add_metric([name, "open"], stats.get("pool_size", 0))
            pools.add_metric([name, "idle"], stats.get("pool_available", 0))
            pools.add_metric([name, "waiting"], stats.get("requests_waiting", 0))
            pools.add_metric([name, "max"], stats.get("pool_max", 0))
        yield pools

    def _standby(self, replica: ConnectionPool, primary: dict[str, float]) -> GaugeMetricFamily:
        """How far the standby's read models are behind the primary's: what ``min_position`` waits for."""
        behind = GaugeMetricFamily(
            "oms_standby_lag_events",
            "Ledger positions a read model on the standby (OMS_READ_DATABASE_URL) is behind the primary.",
            labels=["projection"],
        )
        try:
            with replica.connection(timeout=1) as conn:
                replayed = {status.name: status.position for status in statuses(conn, list(primary))}
        except Exception:  # noqa: BLE001 - a standby that is away leaves the gauge empty
            return behind
        for name, position in primary.items():
            behind.add_metric([name], max(0.0, position - replayed.get(name, 0)))
        return behind
