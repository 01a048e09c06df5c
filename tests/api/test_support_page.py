"""The support page, driven in a real headless Chromium against a real server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from api.keys import Role
from tests.api.conftest import Served
from tests.projection_helpers import project_all

CHROMIUM = os.environ.get("OMS_TEST_CHROMIUM", "/usr/bin/chromium")
# As root in a sandbox, with no network beyond loopback: no sandboxing, no calls home.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is not at {CHROMIUM}; `make test` installs Debian's chromium (or set OMS_TEST_CHROMIUM)")
    # Playwright gives each launch a fresh, empty profile of its own.
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def shop(served_as: Served, pg_url: str) -> Served:
    with httpx.Client(base_url=served_as.base, headers=served_as.headers(Role.INTEGRATOR), timeout=30) as client:

        def post(path: str, body: dict[str, Any]) -> None:
            response = client.post(path, json=body)
            assert response.status_code in (200, 201), response.text

        post("/v1/locations", {"location_id": "main", "name": "Main warehouse", "kind": "warehouse", "priority": 1})
        post("/v1/inventory/receipts", {"sku": "SKU-1", "location_id": "main", "quantity": 10})
        post("/v1/inventory/receipts", {"sku": "SKU-2", "location_id": "main", "quantity": 4})
        post(
            "/v1/orders",
            {
                "order_id": "ORD-7",
                "channel": "web",
                "customer_id": "C-7",
                "currency": "GBP",
                "lines": [
                    {"sku": "SKU-1", "quantity": 3, "unit_price": "2.00"},
                    {"sku": "SKU-2", "quantity": 1, "unit_price": "5.00"},
                ],
                "ship_to": {
                    "name": "Ada <b>Lovelace</b>",
                    "line1": "1 St",
                    "city": "Leeds",
                    "postal_code": "LS1",
                    "country": "GB",
                },
            },
        )
        post(
            "/v1/orders/ORD-7/shipments",
            {"shipment_id": "s1", "carrier": "DPD", "lines": [{"sku": "SKU-1", "quantity": 3}]},
        )
    project_all(pg_url)
    return served_as


def look_up(page: Page, base: str, key: str, order_id: str) -> None:
    page.goto(f"{base}/support")
    page.fill("#api-key", key)
    page.fill("#order-id", order_id)
    page.click("button[type=submit]")


def test_support_reads_an_orders_status_lines_and_timeline(browser: Browser, shop: Served) -> None:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    look_up(page, shop.base, shop.keys[Role.SUPPORT], "ORD-7")
    expect(page.locator("#order")).to_be_visible()
    expect(page.locator("#order-title")).to_have_text("ORD-7")
    expect(page.locator("dd[data-field=status]")).to_have_text("partially_shipped")
    # Shown as text, never as markup.
    expect(page.locator("#ship-to")).to_contain_text("Ada <b>Lovelace</b>, 1 St, Leeds")
    lines = page.locator("#lines tbody tr")
    expect(lines).to_have_count(2)
    expect(lines.nth(0)).to_contain_text("SKU-1")
    timeline = page.locator("#timeline tbody tr")
    expect(timeline.first).to_contain_text("placed on web by customer C-7")
    expect(page.locator("#timeline")).to_contain_text("3 x SKU-1 committed at Main warehouse")
    expect(page.locator("#timeline")).to_contain_text("integrator:integrator-tester")
    assert timeline.count() >= 5
    assert page.url.endswith("/support?order=ORD-7")
    # A reload keeps the key for the session and opens the same order.
    page.reload()
    expect(page.locator("#order-title")).to_have_text("ORD-7")
    assert errors == []


def test_support_sees_plain_errors_for_unknown_orders_and_bad_keys(browser: Browser, shop: Served) -> None:
    page = browser.new_page()
    look_up(page, shop.base, shop.keys[Role.SUPPORT], "NOPE-1")
    expect(page.locator("#message")).to_have_text("no order 'NOPE-1'")
    expect(page.locator("#order")).to_be_hidden()
    look_up(page, shop.base, "oms_bad_key", "ORD-7")
    expect(page.locator("#message")).to_have_class("error")
    expect(page.locator("#order")).to_be_hidden()


def test_a_role_that_may_not_read_timelines_is_told_so(browser: Browser, shop: Served) -> None:
    page = browser.new_page()
    look_up(page, shop.base, shop.keys[Role.ANALYST], "ORD-7")
    expect(page.locator("#message")).to_contain_text("role 'analyst' may not do this")
    expect(page.locator("#order")).to_be_hidden()


def test_after_erasure_the_order_reads_on_with_its_ship_to_shown_as_erased(browser: Browser, shop: Served) -> None:
    erased = httpx.post(f"{shop.base}/v1/customers/C-7/erasure", headers=shop.headers(Role.ADMIN))
    assert erased.status_code == 200, erased.text
    page = browser.new_page()
    look_up(page, shop.base, shop.keys[Role.SUPPORT], "ORD-7")
    expect(page.locator("#ship-to")).to_have_text("Erased at the customer's request.")
    expect(page.locator("dd[data-field=status]")).to_have_text("partially_shipped")
    expect(page.locator("#lines tbody tr")).to_have_count(2)


def test_the_page_forbids_inline_script(shop: Served) -> None:
    answer = httpx.get(f"{shop.base}/support")
    assert answer.status_code == 200
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    assert httpx.get(f"{shop.base}/support/secrets.txt").status_code == 422
