"""Point-in-time recovery: a base backup and the archived WAL, restored to a chosen moment, give a
ledger whose chain verifies and which is the original up to that moment: the same events, and the
same answers to as-of by recorded time."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.bootstrap import Container, build
from api.keys import Role
from api.settings import Settings
from commands.chain_verify import verify
from projections.admin import head
from tests.cluster import Cluster, Node

pytestmark = pytest.mark.postgres

LOCATION = {"location_id": "main", "name": "Main", "kind": "warehouse", "priority": 1}
EVENTS = "SELECT notification_id, originator_id, originator_version, topic, state FROM ledger.ledger_events"


def events(url: str, upto: int) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(EVENTS + " WHERE notification_id <= %s ORDER BY notification_id", (upto,)).fetchall()


def receive(client: TestClient, headers: dict[str, str], n: int) -> int:
    position = 0
    for _ in range(n):
        answer = client.post(
            "/v1/inventory/receipts", json={"sku": "A", "location_id": "main", "quantity": 1}, headers=headers
        )
        assert answer.status_code == 200, answer.text
        position = answer.json()["position"]
    return position


def as_of(client: TestClient, headers: dict[str, str], moment: datetime) -> Any:
    answer = client.get(
        "/v1/stock/A/main/as-of", params={"at": moment.isoformat(), "time": "recorded"}, headers=headers
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def archived_through(primary: Node) -> None:
    """Close the current WAL segment and wait until the archive holds it."""
    segment = primary.execute("SELECT pg_walfile_name(pg_switch_wal())", admin=True)[0][0]
    deadline = time.monotonic() + 30
    while (primary.execute("SELECT last_archived_wal FROM pg_stat_archiver", admin=True)[0][0] or "") < str(segment):
        assert time.monotonic() < deadline, "the WAL was not archived"
        time.sleep(0.1)


def serve(url: str) -> tuple[Container, TestClient]:
    container = build(Settings(database_url=url, group_commit=False))
    return container, TestClient(create_app(container), raise_server_exceptions=False)


def test_a_restore_to_a_moment_is_the_original_ledger_up_to_that_moment(cluster: Cluster) -> None:
    primary = cluster.primary(archive=True)
    original, client = serve(primary.url)
    try:
        key = original.keys.create("auditor", Role.ADMIN)
        headers = {"Authorization": f"Bearer {key}"}
        assert client.post("/v1/locations", json=LOCATION, headers=headers).status_code == 201
        backup = cluster.base_backup(primary)
        moments = []
        for _ in range(3):
            receive(client, headers, 5)
            moments.append(datetime.now(UTC))
        last_before = receive(client, headers, 5)
        time.sleep(0.2)
        target = datetime.now(UTC)  # the moment to restore to: after this, the events we lose
        time.sleep(0.2)
        first_after = receive(client, headers, 1)
        receive(client, headers, 9)
        archived_through(primary)
        expected = {m: as_of(client, headers, m) for m in [*moments, target]}
    finally:
        client.close()
        original.close()

    restored_node = cluster.restore(primary, backup, "restored", target.isoformat())
    with psycopg.connect(restored_node.url) as conn:
        restored_head = head(conn)
        assert verify(conn).ok
    assert last_before <= restored_head < first_after
    assert events(restored_node.url, restored_head) == events(primary.url, restored_head)

    restored, client = serve(restored_node.url)
    try:
        for moment, answer in expected.items():
            assert as_of(client, headers, moment) == answer
        # Asked about now, the restored ledger answers what the original did at the target.
        now = datetime.now(UTC)
        assert {**as_of(client, headers, now), "at": None} == {**expected[target], "at": None}
        assert expected[target]["balances"]["available"] == 20
    finally:
        client.close()
        restored.close()
