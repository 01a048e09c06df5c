"""Order money through HTTP: price terms in, every payment limit a 409 that writes nothing, and
the finance routes for analysts and auditors (JSON and CSV)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

import pytest

from api.keys import Role
from tests.api.conftest import Api, problem
from tests.projection_helpers import project_all

D = Decimal
VAT = [{"name": "VAT", "rate": "0.2"}]


def priced(**change: Any) -> dict[str, Any]:
    """41.99 in all: see tests/unit/test_order_money.py for the sums."""
    body = {
        "order_id": "o1",
        "channel": "web",
        "customer_id": "C-1",
        "currency": "GBP",
        "lines": [
            {
                "sku": "A",
                "quantity": 3,
                "unit_price": "10.00",
                "discounts": [{"code": "LINE3", "amount": "3.00"}],
                "taxes": VAT,
            },
            {"sku": "B", "quantity": 2, "unit_price": "5.00", "taxes": VAT},
        ],
        "discounts": [{"code": "ORDER7", "amount": "7.00"}],
        "shipping": [{"code": "standard", "fee": "4.99", "taxes": VAT}],
    }
    return {**body, **change}


def head(api: Api) -> int:
    return int(api.container.ledger.recorder.max_notification_id() or 0)


def test_an_order_with_price_terms_reads_back_its_money(stocked: Api) -> None:
    placed = stocked.post("/v1/orders", priced())
    assert placed.status_code == 201, placed.text
    project_all(stocked.container.settings.database_url or "")
    body = stocked.client.get("/v1/orders/o1", headers=stocked.headers(Role.SUPPORT)).json()
    assert {k: body[k] for k in ("subtotal", "discounts", "shipping", "tax", "total", "balance_due")} == {
        "subtotal": "40.00",
        "discounts": "10.00",
        "shipping": "4.99",
        "tax": "7.00",
        "total": "41.99",
        "balance_due": "41.99",
    }
    assert [(li["sku"], li["discount"], li["tax"]) for li in body["line_items"]] == [
        ("A", "8.11", "4.38"),
        ("B", "1.89", "1.62"),
    ]


@pytest.mark.parametrize(
    ("payments", "refused", "code"),
    [
        ([], {"kind": "authorization", "amount": "42.00"}, "authorization_exceeds_total"),
        ([], {"kind": "capture", "amount": "1000.00"}, "capture_exceeds_total"),
        (
            [{"kind": "authorization", "amount": "10.00"}],
            {"kind": "void", "amount": "10.01"},
            "void_exceeds_open_authorization",
        ),
        ([], {"kind": "refund", "amount": "500.00"}, "refund_exceeds_captured"),
        (
            [{"kind": "capture", "amount": "41.99"}],
            {"kind": "refund", "amount": "1.00", "return_id": "nope"},
            "return_not_found",
        ),
    ],
)
def test_each_payment_limit_is_a_409_with_its_code_and_writes_nothing(
    stocked: Api, payments: list[dict[str, Any]], refused: dict[str, Any], code: str
) -> None:
    stocked.post("/v1/orders", priced())
    for payment in payments:
        assert stocked.post("/v1/orders/o1/payments", payment).status_code == 200
    before = head(stocked)
    status = 404 if code == "return_not_found" else 409
    problem(stocked.post("/v1/orders/o1/payments", refused), status, code)
    assert head(stocked) == before


def test_a_refund_for_a_return_stops_at_what_the_return_is_owed(stocked: Api) -> None:
    stocked.post("/v1/orders", priced())
    stocked.post("/v1/orders/o1/payments", {"kind": "capture", "amount": "41.99"})
    stocked.post("/v1/orders/o1/shipments", {"shipment_id": "s1"})
    stocked.post("/v1/orders/o1/returns", {"return_id": "r1", "lines": [{"sku": "B", "quantity": 1, "reason": "x"}]})
    received = stocked.post(
        "/v1/orders/o1/returns/r1/receipt",
        {
            "location_id": "main",
            "lines": [{"sku": "B", "quantity": 1, "disposition": "restock"}],
            "restocking_fee": "0.50",
        },
    )
    assert received.status_code == 200, received.text
    assert (received.json()["credited"], received.json()["return_refund_due"]) == ("4.36", "4.36")
    before = head(stocked)
    problem(
        stocked.post("/v1/orders/o1/payments", {"kind": "refund", "amount": "4.37", "return_id": "r1"}),
        409,
        "refund_exceeds_return",
    )
    assert head(stocked) == before
    paid = stocked.post(
        "/v1/orders/o1/payments",
        {"kind": "refund", "amount": "4.36", "return_id": "r1", "provider": "stripe", "reference": "re_1"},
    )
    assert paid.json()["refund_due"] == "0.00", paid.text


@pytest.mark.parametrize(
    "change",
    [
        {"lines": [{"sku": "A", "quantity": 1, "unit_price": "1.00", "taxes": [{"name": "VAT", "rate": "1.5"}]}]},
        {"lines": [{"sku": "A", "quantity": 1, "unit_price": "1.00", "discounts": [{"code": "X", "amount": "1.01"}]}]},
        {"discounts": [{"code": "X", "amount": "100.00"}]},
        {"shipping": [{"code": "s", "fee": "1.00", "discount": "2.00"}]},
        {"shipping": [{"code": "s", "fee": "1.001"}]},
    ],
)
def test_bad_price_terms_are_refused_and_write_nothing(stocked: Api, change: dict[str, Any]) -> None:
    before = head(stocked)
    problem(stocked.post("/v1/orders", priced(**change)), 422, "validation_error")
    assert head(stocked) == before


def test_cancelling_voids_and_refunds_in_one_command(stocked: Api) -> None:
    stocked.post("/v1/orders", priced())
    stocked.post("/v1/orders/o1/payments", {"kind": "authorization", "amount": "41.99"})
    stocked.post("/v1/orders/o1/payments", {"kind": "capture", "amount": "20.00"})
    cancelled = stocked.post("/v1/orders/o1/cancellation", {"reason": "customer", "refund": True, "reference": "re_9"})
    body = cancelled.json()
    assert (body["voided"], body["refunded"], body["payment_status"]) == ("21.99", "20.00", "refunded"), body


def test_finance_routes_for_analysts_and_auditors(stocked: Api) -> None:
    stocked.post("/v1/orders", priced(occurred_at="2026-03-01T10:00:00Z"))
    stocked.post(
        "/v1/orders/o1/payments",
        {
            "kind": "capture",
            "amount": "41.99",
            "provider": "stripe",
            "reference": "ch_1",
            "occurred_at": "2026-03-02T10:00:00Z",
        },
    )
    stocked.post("/v1/orders", priced(order_id="o2", occurred_at="2026-03-02T11:00:00Z"))
    project_all(stocked.container.settings.database_url or "")
    get = stocked.client.get
    daily = get("/v1/finance/daily", headers=stocked.headers(Role.ANALYST)).json()["rows"]
    assert [(r["period_start"], r["orders"], r["net_sales"], r["captured"], r["balance_due"]) for r in daily] == [
        ("2026-03-01", 1, "30.00", "0", "41.99"),
        ("2026-03-02", 1, "30.00", "41.99", "41.99"),
    ]
    assert daily[0]["total_sales"] == "41.99"
    total = get(
        "/v1/finance/daily",
        params={"granularity": "total", "from": "2026-03-02"},
        headers=stocked.headers(Role.AUDITOR),
    )
    assert total.json()["rows"][0]["gross_sales"] == "40.00"
    as_csv = get("/v1/finance/daily", headers=stocked.headers(Role.ANALYST, Accept="text/csv"))
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert as_csv.headers["content-type"].startswith("text/csv") and rows[1]["captured"] == "41.99"
    payments = get(
        "/v1/finance/payments",
        params={"provider": "stripe", "reference": "ch_1"},
        headers=stocked.headers(Role.AUDITOR),
    )
    assert [(p["order_id"], p["kind"], p["amount"]) for p in payments.json()["items"]] == [("o1", "capture", "41.99")]
    owing = get("/v1/finance/balances", params={"owing": "balance_due"}, headers=stocked.headers(Role.ANALYST))
    assert [b["order_id"] for b in owing.json()["items"]] == ["o2"]
    problem(get("/v1/finance/daily", headers=stocked.headers(Role.INTEGRATOR)), 403, "forbidden")
    kpis = get("/v1/kpis/fulfillment", params={"granularity": "total"}, headers=stocked.headers(Role.ANALYST)).json()
    assert (kpis["rows"][0]["net_revenue"], kpis["rows"][0]["average_order_value"]) == (
        {"GBP": "60.00"},
        {"GBP": "30.00"},
    )
