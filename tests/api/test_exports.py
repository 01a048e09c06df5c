"""Analysts' exports: CSV, NDJSON and Parquet answers stream every row the filters select (not
one page), ``oms export read`` writes a whole table, and a read-only role sees schema read only."""

from __future__ import annotations

import csv
import io
import json
import uuid
from pathlib import Path

import psycopg
import pyarrow.parquet as pq
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from typer.testing import CliRunner

from api import reads
from api.cli import cli
from api.exports import export_table
from api.keys import Role
from api.readers import BadRoleName, grant_reader
from tests.api.conftest import Api
from tests.projection_helpers import project_all

ORDER = {
    "channel": "web",
    "customer_id": "C-1",
    "currency": "GBP",
    "lines": [{"sku": "A", "quantity": 1, "unit_price": "2.50"}],
}


@pytest.fixture
def five_orders(stocked: Api, monkeypatch: pytest.MonkeyPatch) -> Api:
    monkeypatch.setattr(reads, "PAGE", 2)  # five orders take three pages
    for n in range(5):
        assert stocked.post("/v1/orders", {**ORDER, "order_id": f"o{n}"}).status_code == 201
    project_all(stocked.container.settings.database_url or "")
    return stocked


def test_csv_ndjson_and_parquet_carry_every_row_not_one_page(five_orders: Api) -> None:
    get = five_orders.client.get
    as_csv = get("/v1/orders?limit=1", headers=five_orders.headers(Role.ANALYST, Accept="text/csv"))
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert sorted(r["order_id"] for r in rows) == [f"o{n}" for n in range(5)] and rows[0]["total"] == "2.50"
    lines = get(
        "/v1/orders", headers=five_orders.headers(Role.ANALYST, Accept="application/x-ndjson")
    ).text.splitlines()
    assert len(lines) == 5 and json.loads(lines[0])["currency"] == "GBP"
    parquet = get("/v1/orders", headers=five_orders.headers(Role.ANALYST, Accept="application/vnd.apache.parquet"))
    assert parquet.headers["content-disposition"].endswith('orders.parquet"')
    table = pq.read_table(io.BytesIO(parquet.content))
    assert table.num_rows == 5 and str(table.column("total")[0]) == "2.500000000"
    assert str(table.schema.field("placed_at").type) == "timestamp[us, tz=UTC]"
    filtered = get("/v1/orders?channel=phone", headers=five_orders.headers(Role.ANALYST, Accept="text/csv"))
    assert filtered.text.splitlines()[1:] == [] and "order_id" in filtered.text.splitlines()[0]
    page = get("/v1/orders?limit=2", headers=five_orders.headers(Role.ANALYST)).json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    stock = get("/v1/stock", headers=five_orders.headers(Role.ANALYST, Accept="application/vnd.apache.parquet"))
    assert pq.read_table(io.BytesIO(stock.content)).num_rows == 2


def test_a_read_table_is_exported_whole_without_the_sealed_columns(five_orders: Api, tmp_path: Path) -> None:
    url = five_orders.container.settings.database_url or ""
    with psycopg.connect(url) as conn:
        out = io.BytesIO()
        assert export_table(conn, "orders", "parquet", out) == 5
        table = pq.read_table(io.BytesIO(out.getvalue()))
        assert (
            table.num_rows == 5 and "personal_data" not in table.schema.names and "email_hash" not in table.schema.names
        )
        text = io.BytesIO()
        assert export_table(conn, "order_lines", "csv", text) == 5
        assert text.getvalue().decode().splitlines()[0].startswith("order_id,sku,")


def test_the_reader_role_reads_schema_read_and_is_refused_the_ledger(five_orders: Api) -> None:
    url = five_orders.container.settings.database_url or ""
    role = f"reader_{uuid.uuid4().hex[:8]}"
    with pytest.raises(BadRoleName):
        grant_reader(url, "Robert'); DROP TABLE x; --")
    grant_reader(url, role, "s3cret")
    grant_reader(url, role, "s3cret")  # again: harmless
    params = conninfo_to_dict(url)
    params["user"] = role
    try:
        with psycopg.connect(make_conninfo("", **params), autocommit=True) as conn:
            assert conn.execute("SELECT count(*) FROM read.orders").fetchone() == (5,)
            for table in ("ledger.ledger_events", "ledger.customer_keys", "ledger.webhook_subscriptions"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(f"SELECT 1 FROM {table}")
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                conn.execute("DELETE FROM read.orders")
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_the_export_and_grant_reader_commands(
    five_orders: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = five_orders.container.settings.database_url or ""
    monkeypatch.setenv("OMS_DATABASE_URL", url)
    runner = CliRunner()
    out = tmp_path / "orders.parquet"
    done = runner.invoke(cli, ["export", "read", "orders", str(out)])
    assert done.exit_code == 0, done.output
    assert "exported 5 rows of read.orders" in done.output and pq.read_table(out).num_rows == 5
    lines = tmp_path / "stock.ndjson"
    assert runner.invoke(cli, ["export", "read", "stock", str(lines), "--format", "ndjson"]).exit_code == 0
    assert len(lines.read_text().splitlines()) == 2
    refused = runner.invoke(cli, ["export", "read", "orders_state", str(out)])
    assert refused.exit_code == 2 and "not for export" in refused.output
    assert runner.invoke(cli, ["export", "read", "nope", str(out)]).exit_code == 2
    assert runner.invoke(cli, ["export", "read", "orders", str(out), "--format", "xls"]).exit_code == 2
    role = f"reader_{uuid.uuid4().hex[:8]}"
    try:
        granted = runner.invoke(cli, ["db", "grant-reader", role], env={"OMS_READER_PASSWORD": "pw"})
        assert granted.exit_code == 0, granted.output
        assert runner.invoke(cli, ["db", "grant-reader", "Bad-Name"]).exit_code == 2
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
