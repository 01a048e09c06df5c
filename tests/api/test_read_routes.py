"""Read routes: stock, locations, orders, KPIs (worked out by hand) and projections."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from api.keys import Role
from tests.api.conftest import Api, problem
from tests.projection_helpers import project_all

D = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)  # a Monday


def at(hours: float) -> str:
    return (D + timedelta(hours=hours)).isoformat()


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


@pytest.fixture
def shop(api: Api, pg_url: str) -> Api:
    """A hand-made history on 5 January 2026 (placement at 08:00 UTC)."""
    post = api.post
    ok(
        post(
            "/v1/locations",
            {
                "location_id": "main",
                "name": "Main warehouse",
                "kind": "warehouse",
                "priority": 1,
                "occurred_at": at(-1),
            },
        ),
        201,
    )
    ok(
        post(
            "/v1/locations",
            {"location_id": "store", "name": "High St", "kind": "store", "priority": 2, "occurred_at": at(-1)},
        ),
        201,
    )
    ok(post("/v1/inventory/receipts", {"sku": "X", "location_id": "main", "quantity": 10, "occurred_at": at(-1)}))
    ok(post("/v1/inventory/receipts", {"sku": "Y", "location_id": "store", "quantity": 1, "occurred_at": at(-1)}))
    ok(
        api.put(
            "/v1/inventory/Y/store/policy",
            {"reorder_point": 5, "reorder_quantity": 10, "safety_stock": 0, "allow_backorder": False},
        )
    )

    def order(order_id: str, quantity: int, price: str, channel: str = "web") -> None:
        ok(
            post(
                "/v1/orders",
                {
                    "order_id": order_id,
                    "channel": channel,
                    "customer_id": "C1",
                    "currency": "GBP",
                    "lines": [{"sku": "X", "quantity": quantity, "unit_price": price}],
                    "occurred_at": at(0),
                    "promised_ship_by": at(24),
                    "promised_delivery_by": at(72),
                },
            ),
            201,
        )

    order("A", 2, "10.00")
    order("B", 1, "5.00")
    order("C", 3, "1.00")
    order("D", 1, "20.00", channel="b2b")
    # A: shipped after 10 h and delivered after 2 days, both on time, paid: a perfect order.
    ok(post("/v1/orders/A/shipments", {"shipment_id": "A1", "occurred_at": at(10)}), 201)
    ok(post("/v1/orders/A/shipments/A1/delivery", {"occurred_at": at(48)}))
    ok(post("/v1/orders/A/payments", {"kind": "capture", "amount": "20.00", "occurred_at": at(49)}))
    # B: shipped after 30 h (late) and delivered after 5 days (late); one unit comes back.
    ok(post("/v1/orders/B/shipments", {"shipment_id": "B1", "occurred_at": at(30)}), 201)
    ok(post("/v1/orders/B/shipments/B1/delivery", {"occurred_at": at(120)}))
    ok(
        post(
            "/v1/orders/B/returns",
            {"return_id": "R1", "lines": [{"sku": "X", "quantity": 1, "reason": "late"}], "occurred_at": at(130)},
        ),
        201,
    )
    ok(
        post(
            "/v1/orders/B/returns/R1/receipt",
            {
                "location_id": "main",
                "occurred_at": at(140),
                "lines": [{"sku": "X", "quantity": 1, "disposition": "restock"}],
            },
        )
    )
    # C: cancelled whole.
    ok(post("/v1/orders/C/cancellation", {"reason": "changed mind", "occurred_at": at(1)}))
    project_all(pg_url)
    return api


def kpis(api: Api, **params: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = ok(
        api.client.get("/v1/kpis/fulfillment", params=params, headers=api.headers(Role.ANALYST))
    )["rows"]
    return rows


def test_kpis_of_a_hand_made_day(shop: Api) -> None:
    (row,) = kpis(shop, **{"from": "2026-01-05", "to": "2026-01-05", "channel": "web"})
    assert row["period_start"] == "2026-01-05"
    assert (row["orders_placed"], row["units_ordered"], row["gmv"]) == (3, 6, {"GBP": "28.00"})
    assert (row["orders_backordered"], row["fill_rate"]) == (0, 1.0)
    assert (row["orders_shipped"], row["ship_hours_mean"]) == (2, 20.0)  # (10 + 30) / 2
    # Histogram buckets [8, 12) and [24, 36) hold one order each; the median interpolates to the top
    # of the first (8 + 4 x 1/1 = 12), p90 to 80 % into the second (24 + 12 x 0.8 = 33.6).
    assert (row["ship_hours_p50"], row["ship_hours_p90"]) == (12.0, pytest.approx(33.6))
    assert (row["orders_delivered"], row["delivery_days_mean"]) == (2, 3.5)  # (2 + 5) / 2
    assert (row["delivery_days_p50"], row["delivery_days_p90"]) == (3.0, pytest.approx(5.8))  # [2,3) and [5,6)
    assert (row["shipped_on_time_rate"], row["delivered_on_time_rate"]) == (0.5, 0.5)
    assert (row["orders_cancelled"], row["cancellation_rate"]) == (1, pytest.approx(1 / 3))
    assert (row["units_shipped"], row["units_returned"], row["return_rate"]) == (3, 1, pytest.approx(1 / 3))
    assert row["perfect_order_rate"] == 0.5  # A of the two delivered


def test_kpi_granularity_grouping_and_empty_rates(shop: Api) -> None:
    (week,) = kpis(shop, granularity="week")
    assert (week["period_start"], week["orders_placed"], week["gmv"]) == ("2026-01-05", 4, {"GBP": "48.00"})
    (month,) = kpis(shop, granularity="month")
    assert month["period_start"] == "2026-01-01"
    (total,) = kpis(shop, granularity="total")
    assert total["period_start"] is None
    by_channel = {r["channel"]: r for r in kpis(shop, granularity="total", group_by=["channel"])}
    assert set(by_channel) == {"web", "b2b"}
    b2b = by_channel["b2b"]
    assert (b2b["orders_shipped"], b2b["ship_hours_mean"], b2b["perfect_order_rate"]) == (0, None, None)
    assert kpis(shop, **{"from": "2026-02-01"}) == []
    assert kpis(shop, location_id="main", granularity="total")[0]["orders_placed"] == 4


def test_kpis_as_csv_and_for_analysts_only(shop: Api) -> None:
    response = shop.client.get(
        "/v1/kpis/fulfillment", params={"granularity": "total"}, headers=shop.headers(Role.ANALYST, Accept="text/csv")
    )
    assert response.headers["content-type"].startswith("text/csv")
    (row,) = list(csv.DictReader(io.StringIO(response.text)))
    assert (row["orders_placed"], row["gmv"]) == ("4", '{"GBP": "48.00"}')
    problem(shop.client.get("/v1/kpis/fulfillment", headers=shop.headers(Role.SUPPORT)), 403, "forbidden")
    problem(
        shop.client.get("/v1/kpis/fulfillment", params={"granularity": "year"}, headers=shop.headers(Role.ANALYST)),
        422,
        "validation_error",
    )


def test_stock_list_filters_pages_and_csv(shop: Api) -> None:
    get = shop.client.get
    headers = shop.headers(Role.ANALYST)
    page = ok(get("/v1/stock", params={"limit": 1}, headers=headers))
    assert [(i["sku"], i["location_id"]) for i in page["items"]] == [("X", "main")]
    x = page["items"][0]
    # 10 received; 7 committed, 3 of them released (C cancelled); 3 shipped (A, B); 1 returned to stock.
    assert (x["available"], x["committed"], x["on_hand"]) == (10 - 7 + 3 + 1, 7 - 3 - 3, 10 - 3 + 1)
    rest = ok(get("/v1/stock", params={"limit": 1, "cursor": page["next_cursor"]}, headers=headers))
    assert [(i["sku"], i["low_stock"]) for i in rest["items"]] == [("Y", True)]
    assert rest["next_cursor"] is None
    assert [i["sku"] for i in ok(get("/v1/stock", params={"low_stock": True}, headers=headers))["items"]] == ["Y"]
    problem(get("/v1/stock", params={"cursor": "garbage"}, headers=headers), 422, "validation_error")
    text = get("/v1/stock", headers=shop.headers(Role.ANALYST, Accept="text/csv")).text
    assert text.splitlines()[0].startswith("sku,location_id,available")


def test_stock_of_one_sku_and_locations(shop: Api) -> None:
    headers = shop.headers(Role.SUPPORT)
    x = ok(shop.client.get("/v1/stock/X", headers=headers))
    assert (x["total"]["available"], [loc["location_id"] for loc in x["locations"]]) == (7, ["main"])
    problem(shop.client.get("/v1/stock/NOPE", headers=headers), 404, "stock_item_not_found")
    locations = ok(shop.client.get("/v1/locations", headers=headers))
    assert [(loc["location_id"], loc["name"]) for loc in locations] == [
        ("main", "Main warehouse"),
        ("store", "High St"),
    ]


def test_orders_list_filters_and_one_order(shop: Api) -> None:
    get = shop.client.get
    headers = shop.headers(Role.SUPPORT)
    everything = ok(get("/v1/orders", headers=headers))["items"]
    assert {o["order_id"]: o["status"] for o in everything} == {
        "A": "completed",
        "B": "delivered",
        "C": "cancelled",
        "D": "committed",
    }
    assert [o["order_id"] for o in ok(get("/v1/orders", params={"channel": "b2b"}, headers=headers))["items"]] == ["D"]
    assert ok(get("/v1/orders", params={"status": "cancelled"}, headers=headers))["items"][0]["cancelled_at"]
    first = ok(get("/v1/orders", params={"limit": 3}, headers=headers))
    second = ok(get("/v1/orders", params={"limit": 3, "cursor": first["next_cursor"]}, headers=headers))
    assert len(first["items"]) + len(second["items"]) == 4 and second["next_cursor"] is None
    assert ok(get("/v1/orders", params={"placed_to": at(-1)}, headers=headers))["items"] == []
    b = ok(get("/v1/orders/B", headers=headers))
    assert (b["return_status"], b["units_returned"], b["line_items"][0]["returned"]) == ("returned", 1, 1)
    assert b["first_shipped_at"].startswith("2026-01-06T14:00")
    problem(get("/v1/orders/NOPE", headers=headers), 404, "order_not_found")
    problem(get("/v1/orders", headers=shop.headers(Role.AUDITOR)), 403, "forbidden")


def test_min_position_reads_your_writes_or_answers_503(shop: Api, pg_url: str) -> None:
    written = ok(shop.post("/v1/inventory/receipts", {"sku": "X", "location_id": "main", "quantity": 5}))
    headers = shop.headers(Role.ANALYST)
    problem(
        shop.client.get("/v1/stock/X", params={"min_position": written["position"]}, headers=headers),
        503,
        "read_model_behind",
    )
    project_all(pg_url)
    caught_up = ok(shop.client.get("/v1/stock/X", params={"min_position": written["position"]}, headers=headers))
    assert caught_up["total"]["available"] == 12


def test_projection_statuses(shop: Api) -> None:
    statuses = {s["name"]: s for s in ok(shop.client.get("/v1/projections", headers=shop.headers(Role.AUDITOR)))}
    assert set(statuses) == {"stock", "orders", "kpis", "audit", "finance"}
    assert all(s["lag"] == 0 and s["position"] == s["head"] > 0 for s in statuses.values())
