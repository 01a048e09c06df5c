"""The database stops and starts again under a stream of commands.

Each test runs its own embedded PostgreSQL in a temporary folder (never the machine's shared
server), stops it and starts it again, while HTTP clients keep sending commands.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.bootstrap import Container, build
from api.keys import Role
from api.settings import Settings
from commands.chain_verify import verify
from domain.stock import StockItem

LOCATION = {"location_id": "main", "name": "Main", "kind": "warehouse", "priority": 1}


@dataclass
class Private:
    container: Container
    client: TestClient
    key: str

    @property
    def server(self) -> Any:
        return self.container.database.server

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}", **extra}

    def stop(self) -> None:
        self.server.stop()

    def start(self) -> None:
        self.server.ensure_postgres_running()


@pytest.fixture
def private(tmp_path: Path) -> Iterator[Private]:
    container = build(Settings(database_url=None, data_dir=tmp_path / "oms", key_cache_seconds=60))
    try:
        key = container.keys.create("restart-tester", Role.INTEGRATOR)
        with TestClient(create_app(container), raise_server_exceptions=False) as client:
            yield Private(container, client, key)
    finally:
        container.close()


@dataclass
class Answer:
    sent: float
    took: float
    status: int


@dataclass
class Stream:
    """Clients that each send receipts of one unit under their own keys, repeating a key until it succeeds."""

    private: Private
    clients: int = 4
    per_client: int = 60
    answers: list[Answer] = field(default_factory=list)
    placed: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self) -> list[threading.Thread]:
        threads = [threading.Thread(target=self._client, args=(n,)) for n in range(self.clients)]
        for thread in threads:
            thread.start()
        return threads

    def _client(self, number: int) -> None:
        for i in range(self.per_client):
            key = f"c{number}-{i}"
            for _ in range(200):  # a bounded number of repeats
                sent = time.monotonic()
                response = self.private.client.post(
                    "/v1/inventory/receipts",
                    json={"sku": "A", "location_id": "main", "quantity": 1},
                    headers=self.private.headers(**{"Idempotency-Key": key}),
                )
                with self.lock:
                    self.answers.append(Answer(sent, time.monotonic() - sent, response.status_code))
                if response.status_code == 200:
                    with self.lock:
                        self.placed.add(key)
                    break
                assert response.status_code == 503, response.text
                assert response.headers["content-type"] == "application/problem+json"
                assert response.headers["retry-after"]
                time.sleep(0.05)
            time.sleep(0.01)


def test_commands_survive_a_database_restart_without_loss_or_doubling(private: Private) -> None:
    assert private.client.post("/v1/locations", json=LOCATION, headers=private.headers()).status_code == 201
    stream = Stream(private)
    threads = stream.run()
    time.sleep(0.5)
    stopped = time.monotonic()
    private.stop()
    time.sleep(2)
    private.start()
    back = time.monotonic()  # the database answers from here on
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads)

    total = stream.clients * stream.per_client
    assert len(stream.placed) == total
    after = [a for a in stream.answers if a.sent >= back]
    assert after, "no command was sent after the database came back"
    assert [a.status for a in after if a.status >= 500] == []
    during = [a for a in stream.answers if stopped <= a.sent < back]
    assert all(a.took < 8 for a in during), max(a.took for a in during)  # a 503, never a hang
    print(  # the figures the docs quote
        f"\n{total} commands, {len(stream.answers)} requests; down {back - stopped:.1f} s;"
        f" 503 while down: {sum(a.status == 503 for a in during)}; 5xx after: 0;"
        f" slowest answer while down {max((a.took for a in during), default=0):.2f} s"
    )
    ledger = private.container.ledger
    item = ledger.repository.get(StockItem.id_for("A", "main"))
    assert isinstance(item, StockItem)
    assert item.available == total  # nothing lost, nothing doubled
    assert item.version == total + 1  # one event per command, and the item's creation
    with private.container.pool.connection() as conn:
        assert verify(conn).ok


def test_readiness_and_commands_answer_503_quickly_while_the_database_is_down(private: Private) -> None:
    assert private.client.get("/readyz").status_code == 200
    private.stop()
    try:
        started = time.monotonic()
        ready = private.client.get("/readyz")
        assert time.monotonic() - started < 2
        assert ready.status_code == 503
        assert ready.headers["content-type"] == "application/problem+json"
        assert ready.json()["code"] == "database_unavailable"
        assert int(ready.headers["retry-after"]) > 0
        started = time.monotonic()
        command = private.client.post("/v1/locations", json=LOCATION, headers=private.headers())
        assert command.status_code == 503, command.text
        assert time.monotonic() - started < 8
        assert command.headers["retry-after"]
    finally:
        private.start()
    deadline = time.monotonic() + 10
    while private.client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    again = private.client.post("/v1/locations", json=LOCATION, headers=private.headers())
    assert again.status_code == 201, again.text
