"""Failover: the primary dies (kill -9) under a stream of commands over HTTP, an orchestrator
promotes the standby, and the same ``oms serve`` carries on against it.

Each test makes its own cluster from the embedded-server wheel's binaries (``tests.cluster``), on
free ports; never the machine's shared server. The service is given both hosts in one URL with
``target_session_attrs=read-write``, as it would be behind Patroni or pg_auto_failover without a
proxy, and finds the new primary by itself.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row

from api.bootstrap import build
from api.keys import Role
from api.settings import Settings
from commands.chain_verify import verify
from domain.stock import StockItem
from projections.admin import head, rebuild, statuses
from projections.events import decode, make_mapper
from projections.registry import all_projections
from projections.runner import ProjectionRunner, wait_for
from tests.api.conftest import free_port, is_ready, stop_process
from tests.cluster import Cluster, Node
from tests.integration.test_projection_runner import dump
from tests.receivers import Receiver, smtp_inbox

pytestmark = pytest.mark.postgres

LOCATION = {"location_id": "main", "name": "Main", "kind": "warehouse", "priority": 1}
CUT_OFF_SECONDS = 0.5
RECONNECT_SECONDS = 30  # longer than the switch takes: commands wait for the new primary instead of failing


def both(first: Node, second: Node) -> str:
    """One URL naming both nodes; libpq takes the first that accepts writes."""
    return (
        f"postgresql://postgres@127.0.0.1:{first.port},127.0.0.1:{second.port}/{first.url.split('dbname=')[1]}"
        "?target_session_attrs=read-write&connect_timeout=2"
    )


@dataclass
class Sent:
    reference: str
    sent: float
    answered: float
    status: int
    position: int | None


@dataclass
class Clients:
    """Clients that each send receipts of one unit, each with a reference of its own and no
    Idempotency-Key, each exactly once: a command is never repeated by the client, so any
    doubling would be the service's."""

    base: str
    key: str
    count: int = 6
    sent: list[Sent] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        self.threads = [threading.Thread(target=self._client, args=(n,)) for n in range(self.count)]
        for thread in self.threads:
            thread.start()

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(RECONNECT_SECONDS + 30)
        assert not any(t.is_alive() for t in self.threads)

    def _client(self, number: int) -> None:
        headers = {"Authorization": f"Bearer {self.key}"}
        with httpx.Client(base_url=self.base, headers=headers, timeout=RECONNECT_SECONDS + 20) as client:
            i = 0
            while not self.stop.is_set():
                reference = f"c{number}-{i}"
                i += 1
                sent = time.monotonic()
                body = {"sku": "A", "location_id": "main", "quantity": 1, "reference": reference}
                try:
                    response = client.post("/v1/inventory/receipts", json=body)
                    status = response.status_code
                    position = response.json().get("position") if status < 300 else None
                except httpx.TransportError:
                    status, position = 0, None
                with self.lock:
                    self.sent.append(Sent(reference, sent, time.monotonic(), status, position))
                if status >= 300:
                    time.sleep(0.05)

    def acknowledged(self) -> dict[str, int]:
        return {s.reference: s.position for s in self.sent if 200 <= s.status < 300 and s.position is not None}


@dataclass
class Serving:
    process: subprocess.Popen[bytes]
    base: str
    key: str


@contextmanager
def serving(url: str, smtp_port: int, log: Path) -> Iterator[Serving]:
    """``oms serve`` on the cluster, as its own process, with an admin key made for the test."""
    container = build(Settings(database_url=url))  # upgrades the database
    try:
        key = container.keys.create("failover", Role.ADMIN)
    finally:
        container.close()
    env = {
        **os.environ,
        "OMS_DATABASE_URL": url,
        "OMS_RECONNECT_SECONDS": str(RECONNECT_SECONDS),
        "OMS_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",
        "OMS_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
    }
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "api", "serve", "--port", str(port)], env=env, stdout=out, stderr=out
        )
    base = f"http://127.0.0.1:{port}"
    try:
        assert wait_for(lambda: is_ready(base), timeout=60), log.read_text()[-3000:]
        yield Serving(process, base, key)
    finally:
        stop_process(process, signal.SIGTERM)


@dataclass
class Outcome:
    acknowledged: int
    lost: int
    doubled: int
    failed: int  # answered 5xx (or not at all) while the primary changed
    lost_writes: float  # batches that lost their connection while saving, as /metrics counts them
    to_promotion: float  # kill -9 to the standby's promotion (the orchestrator's share)
    to_first_success: float  # kill -9 to the first 2xx of a command sent after it
    slowest: float


def receipts(url: str) -> Counter[tuple[str, int]]:
    """(reference, position) of every receipt in the ledger at ``url``."""
    mapper = make_mapper()
    stream = StockItem.id_for("A", "main")
    with psycopg.connect(url) as conn, conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM ledger.ledger_events"
            " WHERE originator_id = %s ORDER BY notification_id",
            (stream,),
        ).fetchall()
    found: Counter[tuple[str, int]] = Counter()
    for recorded in decode(mapper, rows):
        if isinstance(recorded.event, StockItem.Received) and recorded.event.reference:
            found[(recorded.event.reference, recorded.position)] += 1
    return found


def fail_over(cluster: Cluster, tmp_path: Path, *, synchronous: bool, kill_after: float) -> Outcome:
    primary = cluster.primary()
    standby = cluster.standby(primary, "standby", synchronous=synchronous)
    url = both(primary, standby)
    receiver = Receiver().start()
    with smtp_inbox() as (box, smtp_port), serving(url, smtp_port, tmp_path / "serve.log") as served:
        api = httpx.Client(base_url=served.base, headers={"Authorization": f"Bearer {served.key}"}, timeout=60)
        assert api.post("/v1/locations", json=LOCATION).status_code == 201
        hook = {"url": receiver.url, "event_types": ["StockItem.Received"]}
        assert api.post("/v1/webhooks", json=hook).status_code == 201
        clients = Clients(served.base, served.key)
        clients.start()
        time.sleep(kill_after)
        # The standby is cut off a moment before the primary dies: what an asynchronous
        # primary acknowledged in that moment never reached the standby.
        primary.cut_off()
        time.sleep(CUT_OFF_SECONDS)
        killed = time.monotonic()
        primary.kill()
        dead = time.monotonic()  # a command sent before this may still have reached the old primary
        time.sleep(1.0)  # an orchestrator takes a moment to decide
        standby.promote()
        promoted = time.monotonic()
        assert wait_for(lambda: any(s.sent > promoted and s.status < 300 for s in clients.sent[-50:]), timeout=60)
        time.sleep(1.0)  # commands on the new primary
        clients.finish()
        # The notifier carries on too: an order placed now is emailed once.
        order = {**ORDER, "order_id": "after-failover"}
        assert api.post("/v1/orders", json=order).status_code == 201, served.process.pid
        assert wait_for(lambda: len(box.to("ada@example.com")) == 1, timeout=60)
        new_url = standby.url
        with psycopg.connect(new_url) as conn:
            last = head(conn)
        consumers = [*all_projections(make_mapper()), "notifications"]

        def resumed() -> bool:
            with psycopg.connect(new_url) as conn:
                return all(s.position == last for s in statuses(conn, consumers))

        if not wait_for(resumed, timeout=60):
            with psycopg.connect(new_url) as conn:
                behind = {s.name: s.position for s in statuses(conn, consumers) if s.position != last}
            raise AssertionError(f"consumers behind the head {last}: {behind}")
        lost_writes = sum(
            float(line.split()[-1])
            for line in api.get("/metrics").text.splitlines()
            if line.startswith("oms_write_connection_lost_total")
        )
        acknowledged = clients.acknowledged()
        kept = receipts(new_url)
        present = {(r, p) for (r, p) in kept}
        if synchronous:
            delivered = {int(r.headers["webhook-id"]) for r in list(receiver.received)}
            assert wait_for(
                lambda: set(acknowledged.values()) <= {int(r.headers["webhook-id"]) for r in list(receiver.received)},
                timeout=60,
            ), len(set(acknowledged.values()) - delivered)
    receiver.stop()
    references = Counter(r for (r, _) in kept.elements())
    with psycopg.connect(new_url) as conn:
        assert verify(conn).ok
    mapper = make_mapper()
    for projection in all_projections(mapper).values():
        survived = dump(new_url, projection)
        rebuild(ProjectionRunner(projection, new_url, mapper))
        assert dump(new_url, projection) == survived, projection.name
    switch = [s for s in clients.sent if s.answered > killed and s.sent < promoted + 1]
    after = [s for s in clients.sent if s.sent > dead and s.status < 300]
    return Outcome(
        acknowledged=len(acknowledged),
        lost=sum((r, p) not in present for r, p in acknowledged.items()),
        doubled=sum(n > 1 for n in references.values()),
        failed=sum(s.status >= 500 or s.status == 0 for s in switch),
        lost_writes=lost_writes,
        to_promotion=promoted - killed,
        to_first_success=min(s.answered for s in after) - killed,
        slowest=max(s.answered - s.sent for s in switch),
    )


ORDER = {
    "channel": "web",
    "customer_id": "C-1",
    "currency": "GBP",
    "lines": [{"sku": "A", "quantity": 1, "unit_price": "2.00"}],
    "ship_to": {
        "name": "Ada",
        "line1": "1 Road",
        "city": "Leeds",
        "postal_code": "LS1",
        "country": "GB",
        "email": "ada@example.com",
    },
}


@pytest.mark.parametrize("kill_after", [0.4, 1.3, 2.2])
def test_a_synchronous_standby_loses_no_acknowledged_command_at_any_kill_point(
    cluster: Cluster, tmp_path: Path, kill_after: float
) -> None:
    outcome = fail_over(cluster, tmp_path, synchronous=True, kill_after=kill_after + random.uniform(0, 0.3))
    print(f"\nsynchronous standby, kill after {kill_after:.1f} s: {outcome}")  # the figures the docs quote
    assert outcome.acknowledged > 0
    assert outcome.lost == 0
    assert outcome.doubled == 0
    assert outcome.failed == 0  # held through the switch, not failed
    assert outcome.lost_writes >= 1  # operators see the switch in /metrics


def test_an_asynchronous_standby_states_what_it_lost(cluster: Cluster, tmp_path: Path) -> None:
    outcome = fail_over(cluster, tmp_path, synchronous=False, kill_after=1.0)
    print(f"\nasynchronous standby: {outcome}")  # measured, not assumed: the docs quote it
    assert outcome.acknowledged > 0
    assert outcome.doubled == 0
    # The control for the test above: the same fault does lose acknowledged commands here, so
    # the synchronous standby's 0 is its own doing, not a fault that never bit.
    assert 0 < outcome.lost <= outcome.acknowledged
