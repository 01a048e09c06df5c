"""Customer personal data: sealed in events, shown to roles that may see it, erasable for good."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from psycopg import sql
from typer.testing import CliRunner

from api.cli import cli
from api.keys import Role
from tests.api.conftest import Api, problem
from tests.projection_helpers import project_all

CUSTOMER = "C-ERASE-1"
ADDRESS = {
    "name": "Zebedee Quasimodo",
    "line1": "7 Quillfeather Lane",
    "city": "Xanthorpe",
    "postal_code": "XQ9 9ZZ",
    "country": "GB",
    "email": "zebedee.q@example.test",
    "phone": "+44 7700 900123",
}
# The parts of the address that single the customer out; a country or city alone does not.
IDENTIFYING = ["Zebedee Quasimodo", "Quillfeather", "zebedee.q@example.test", "7700 900123", "XQ9 9ZZ"]


def readable_text(url: str) -> dict[str, str]:
    """Every table of the database as text, byte columns decoded, so a stored event's JSON is searchable."""
    found: dict[str, str] = {}
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
            " WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        for schema, name in tables:
            rows = conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(schema, name))).fetchall()
            found[f"{schema}.{name}"] = "\n".join(
                " ".join(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in row) for row in rows
            )
    return found


def holding(url: str, needles: list[str]) -> dict[str, list[str]]:
    return {
        table: hits
        for table, text in readable_text(url).items()
        if (hits := [needle for needle in needles if needle in text])
    }


@pytest.fixture
def placed(api: Api, pg_url: str) -> Api:
    api.post("/v1/locations", {"location_id": "main", "name": "Main", "kind": "warehouse", "priority": 1})
    api.post("/v1/inventory/receipts", {"sku": "A", "location_id": "main", "quantity": 10})
    body: dict[str, Any] = {
        "order_id": "o1",
        "channel": "web",
        "customer_id": CUSTOMER,
        "currency": "GBP",
        "lines": [{"sku": "A", "quantity": 2, "unit_price": "2.50"}],
        "ship_to": ADDRESS,
    }
    assert api.post("/v1/orders", body).status_code == 201
    assert api.post("/v1/orders/o1/shipments", {"shipment_id": "s1", "carrier": "DPD"}).status_code == 201
    assert api.post("/v1/orders", {**body, "order_id": "o2", "customer_id": "C-OTHER"}).status_code == 201
    project_all(pg_url)
    return api


def get_order(api: Api, order_id: str, role: Role) -> dict[str, Any]:
    response = api.client.get(f"/v1/orders/{order_id}", headers=api.headers(role))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_personal_data_is_never_stored_in_clear_and_shows_only_to_roles_that_may_see_it(
    placed: Api, pg_url: str
) -> None:
    assert holding(pg_url, IDENTIFYING) == {}
    # The scan does read stored events: the customer's id, which is kept in clear, is found there.
    assert "ledger.ledger_events" in holding(pg_url, [CUSTOMER])
    support = get_order(placed, "o1", Role.SUPPORT)
    assert (support["personal_data"], support["ship_to"]) == ("present", ADDRESS)
    analyst = get_order(placed, "o1", Role.ANALYST)
    assert (analyst["personal_data"], analyst["ship_to"]) == ("withheld", None)


def test_erasure_leaves_orders_timelines_kpis_and_the_chain_working_and_nothing_readable(
    placed: Api, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    kpis_before = placed.client.get(
        "/v1/kpis/fulfillment", params={"granularity": "total"}, headers=placed.headers(Role.ANALYST)
    ).json()
    monkeypatch.setenv("OMS_DATABASE_URL", pg_url)
    result = CliRunner().invoke(cli, ["customers", "erase", CUSTOMER, "--actor", "admin:dpo"])
    assert result.exit_code == 0, result.output
    assert "1 key(s) deleted" in result.output

    erased = get_order(placed, "o1", Role.SUPPORT)
    assert (erased["personal_data"], erased["ship_to"]) == ("erased", None)
    assert (erased["status"], erased["units_shipped"], erased["total"]) == ("shipped", 2, "5.00")
    assert get_order(placed, "o2", Role.SUPPORT)["ship_to"] == ADDRESS  # another customer's is untouched
    timeline = placed.client.get("/v1/orders/o1/timeline", headers=placed.headers(Role.SUPPORT)).json()
    assert [e["type"] for e in timeline["events"]][:2] == ["Order.Placed", "StockItem.Committed"]
    kpis_after = placed.client.get(
        "/v1/kpis/fulfillment", params={"granularity": "total"}, headers=placed.headers(Role.ANALYST)
    ).json()
    assert kpis_after == kpis_before
    verified = placed.client.get("/v1/audit/verify", headers=placed.headers(Role.AUDITOR)).json()
    assert verified["ok"] is True

    assert holding(pg_url, IDENTIFYING) == {}
    with psycopg.connect(pg_url) as conn:
        assert conn.execute(
            "SELECT count(*) FROM ledger.customer_keys WHERE customer_id = %s", (CUSTOMER,)
        ).fetchone() == (0,)
        assert conn.execute("SELECT actor, keys_deleted FROM ledger.customer_erasures").fetchall() == [("admin:dpo", 1)]


def test_admins_erase_over_http_and_nobody_else_may(placed: Api) -> None:
    problem(placed.post(f"/v1/customers/{CUSTOMER}/erasure", {}, Role.SUPPORT), 403, "forbidden")
    answer = placed.post(f"/v1/customers/{CUSTOMER}/erasure", {}, Role.ADMIN)
    assert answer.status_code == 200, answer.text
    assert answer.json()["keys_deleted"] == 1
    assert get_order(placed, "o1", Role.ADMIN)["personal_data"] == "erased"
    problem(placed.post("/v1/customers/bad id/erasure", {}, Role.ADMIN), 422, "validation_error")


def test_the_cli_refuses_a_malformed_customer_id(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMS_DATABASE_URL", pg_url)
    result = CliRunner().invoke(cli, ["customers", "erase", "no spaces allowed"])
    assert result.exit_code == 2
    assert "not a customer id" in result.output
