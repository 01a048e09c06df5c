"""Queries from a hot standby (``OMS_READ_DATABASE_URL``): a client that passes the position its
command answered reads its own write, though the standby lags behind the primary."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.bootstrap import build
from api.keys import Role
from api.settings import Settings
from tests.api.conftest import problem
from tests.cluster import Cluster

pytestmark = pytest.mark.postgres

LOCATION = {"location_id": "main", "name": "Main", "kind": "warehouse", "priority": 1}
LAG = "300ms"  # the standby applies each commit this late, as a loaded or distant standby does


def test_reads_on_a_lagging_standby_with_min_position_see_the_writers_own_writes(cluster: Cluster) -> None:
    primary = cluster.primary()
    standby = cluster.standby(primary, "replica", synchronous=False, recovery_min_apply_delay=LAG)
    container = build(Settings(database_url=primary.url, read_database_url=standby.url, read_wait_seconds=5))
    try:
        key = container.keys.create("replica-reader", Role.ADMIN)
        container.start_projections()
        headers = {"Authorization": f"Bearer {key}"}
        with TestClient(create_app(container), raise_server_exceptions=False) as client:
            assert client.post("/v1/locations", json=LOCATION, headers=headers).status_code == 201
            stale = 0
            for n in range(1, 7):
                receipt = {"sku": "A", "location_id": "main", "quantity": 1}
                written = client.post("/v1/inventory/receipts", json=receipt, headers=headers)
                assert written.status_code == 200, written.text
                position = written.json()["position"]
                plain = client.get("/v1/stock/A", headers=headers)
                stale += plain.status_code != 200 or plain.json()["total"]["available"] != n
                own = client.get(f"/v1/stock/A?min_position={position}", headers=headers)
                assert own.status_code == 200, own.text
                assert own.json()["total"]["available"] == n
            # The control: without min_position the same reads did come from a standby behind.
            assert stale > 0
            beyond = client.get(f"/v1/stock/A?min_position={position + 1000}", headers=headers)
            problem(beyond, 422, "validation_error")
            scraped = client.get("/metrics").text
            assert 'oms_standby_lag_events{projection="stock"}' in scraped
            assert 'oms_db_pool_connections{pool="standby",state="open"}' in scraped
    finally:
        container.close()
