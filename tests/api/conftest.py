from __future__ import annotations

import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from api.app import create_app
from api.bootstrap import Container, build
from api.http_protocol import GuardedHttpTools
from api.keys import Role
from api.settings import Settings


@dataclass
class Api:
    client: TestClient
    container: Container
    keys: dict[Role, str]

    def headers(self, role: Role = Role.INTEGRATOR, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}", **extra}

    def post(self, path: str, body: Any, role: Role = Role.INTEGRATOR, **headers: str) -> httpx.Response:
        return self.client.post(path, json=body, headers=self.headers(role, **headers))

    def put(self, path: str, body: Any, role: Role = Role.INTEGRATOR, **headers: str) -> httpx.Response:
        return self.client.put(path, json=body, headers=self.headers(role, **headers))


def settings_for(url: str, **overrides: Any) -> Settings:
    return Settings(database_url=url, key_cache_seconds=0, **overrides)


@pytest.fixture
def api(pg_url: str) -> Iterator[Api]:
    container = build(settings_for(pg_url, max_body_bytes=64 * 1024, read_wait_seconds=0.2), run_upgrade=False)
    keys = {role: container.keys.create(f"{role.value}-tester", role) for role in Role}
    try:
        with TestClient(create_app(container), raise_server_exceptions=False) as client:
            yield Api(client, container, keys)
    finally:
        container.close()


@pytest.fixture
def stocked(api: Api) -> Api:
    """A location, ``main``, holding 10 each of SKUs A and B."""
    api.post("/v1/locations", {"location_id": "main", "name": "Main", "kind": "warehouse", "priority": 1})
    for sku in ("A", "B"):
        api.post("/v1/inventory/receipts", {"sku": sku, "location_id": "main", "quantity": 10})
    return api


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Assert a problem+json answer with this status and code; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert (body["status"], body["code"]) == (status, code), body
    assert body["type"] and body["title"] and body["detail"]
    return body


def is_ready(base: str) -> bool:
    """Whether a service at ``base`` answers its readiness check."""
    try:
        return httpx.get(f"{base}/readyz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def stop_process(process: subprocess.Popen[bytes], sig: signal.Signals, seconds: float = 30) -> None:
    """Send ``sig`` and wait for the process to end; kill it if it has not within ``seconds``."""
    process.send_signal(sig)
    try:
        process.wait(seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(container: Container) -> Iterator[str]:
    """The app on a real uvicorn server on a free loopback port; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(
        create_app(container), host="127.0.0.1", port=port, log_level="warning", http=GuardedHttpTools
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        container.close()


@dataclass
class Served:
    base: str
    container: Container
    keys: dict[Role, str]

    def headers(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}


@pytest.fixture
def served_as(pg_url: str) -> Iterator[Served]:
    """A real server with a key for every role."""
    container = build(settings_for(pg_url), run_upgrade=False)
    keys = {role: container.keys.create(f"{role.value}-tester", role) for role in Role}
    with serving(container) as base:
        yield Served(base, container, keys)
