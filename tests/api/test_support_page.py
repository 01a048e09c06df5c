"""The support console, driven in a real headless Chromium against a real server: sign in, search,
open an order, act on it and see the timeline grow; a role without the right sees no action."""

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
                    "email": "Ada@Example.com",
                },
            },
        )
        post(
            "/v1/orders/ORD-7/shipments",
            {
                "shipment_id": "s1",
                "carrier": "DPD",
                "tracking_number": "DPD123",
                "tracking_url": "https://track.example/DPD123",
                "lines": [{"sku": "SKU-1", "quantity": 3}],
            },
        )
        post(
            "/v1/orders/ORD-7/returns",
            {"return_id": "r1", "approve": False, "lines": [{"sku": "SKU-1", "quantity": 1, "reason": "too small"}]},
        )
    project_all(pg_url)
    served_as.container.start_projections()  # as `oms serve` does: actions are read back as they land
    return served_as


def sign_in(page: Page, base: str, key: str) -> None:
    page.goto(f"{base}/support")
    page.fill("#api-key", key)
    page.click("#sign-in button[type=submit]")
    expect(page.locator("#search")).to_be_visible()


def look_up(page: Page, base: str, key: str, query: str) -> None:
    sign_in(page, base, key)
    page.fill("#query", query)
    page.click("#search button[type=submit]")


def act(page: Page, command: str, **fields: str) -> None:
    """Press an action's button, fill its dialog and confirm."""
    page.click(f"button[data-command={command}]")
    expect(page.locator("#action")).to_be_visible()
    for name, value in fields.items():
        target = page.locator(f'#action-fields [name="{name}"]')
        if target.evaluate("node => node.tagName") == "SELECT":
            target.select_option(value)
        else:
            target.fill(value)
    page.click("#action-submit")
    expect(page.locator("#action")).to_be_hidden()


def test_support_reads_an_orders_status_lines_fulfilment_and_timeline(browser: Browser, shop: Served) -> None:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    look_up(page, shop.base, shop.keys[Role.SUPPORT], "ORD-7")
    expect(page.locator("#order")).to_be_visible()
    expect(page.locator("#order-title")).to_have_text("ORD-7")
    expect(page.locator("dd[data-field=status]")).to_have_text("partially_shipped")
    expect(page.locator("#actor")).to_have_text("support:support-tester (support)")
    # Shown as text, never as markup.
    expect(page.locator("#ship-to")).to_contain_text("Ada <b>Lovelace</b>, 1 St, Leeds")
    lines = page.locator("#lines tbody tr")
    expect(lines).to_have_count(2)
    expect(lines.nth(0)).to_contain_text("SKU-1")
    expect(page.locator("#shipments")).to_contain_text("DPD")
    expect(page.locator("#shipments a")).to_have_attribute("href", "https://track.example/DPD123")
    expect(page.locator("#returns")).to_contain_text("requested")
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


def test_support_finds_a_customers_orders_by_email_or_customer_id(browser: Browser, shop: Served) -> None:
    page = browser.new_page()
    look_up(page, shop.base, shop.keys[Role.SUPPORT], "ada@example.COM")
    expect(page.locator("#results-title")).to_have_text("Orders to ada@example.COM")
    expect(page.locator("#orders tbody tr")).to_have_count(1)
    page.click("#orders tbody button")
    expect(page.locator("#order-title")).to_have_text("ORD-7")
    page.click("dd[data-field=customer] button")
    expect(page.locator("#results-title")).to_have_text("Orders of customer C-7")
    page.fill("#query", "C-7")
    page.click("#search button[type=submit]")
    expect(page.locator("#orders tbody tr")).to_have_count(1)


def test_support_acts_on_an_order_and_sees_the_timeline_grow(browser: Browser, shop: Served) -> None:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    look_up(page, shop.base, shop.keys[Role.SUPPORT], "ORD-7")
    expect(page.locator("#order-title")).to_have_text("ORD-7")
    events = page.locator("#timeline tbody tr").count()

    act(page, "add_order_note", text="Customer rang about the return")
    expect(page.locator("#notes")).to_contain_text("Customer rang about the return")
    expect(page.locator("#timeline")).to_contain_text("note by support:support-tester: Customer rang about the return")

    act(page, "place_hold", kind="address", reason="flat number missing")
    expect(page.locator("#hold-badge")).to_be_visible()
    expect(page.locator("#holds")).to_contain_text("flat number missing")

    act(page, "change_ship_to", line1="Flat 2, 1 St", reason="customer called")
    expect(page.locator("#ship-to")).to_contain_text("Flat 2, 1 St")

    act(page, "release_hold", reason="address confirmed")
    expect(page.locator("#hold-badge")).to_be_hidden()

    act(page, "cancel_order", **{"line:SKU-2": "1", "reason": "out of stock at the supplier"})
    expect(page.locator("#lines tbody tr").nth(1)).to_contain_text("SKU-2")
    expect(page.locator("dd[data-field=status]")).to_have_text("shipped")

    act(page, "approve_return", reason="within 30 days")
    expect(page.locator("#returns")).to_contain_text("approved")
    expect(page.locator("#timeline")).to_contain_text("return r1 approved")
    assert page.locator("#timeline tbody tr").count() >= events + 6
    assert errors == []


def test_an_action_the_api_refuses_shows_its_reason_in_the_dialog(browser: Browser, shop: Served) -> None:
    page = browser.new_page()
    look_up(page, shop.base, shop.keys[Role.SUPPORT], "ORD-7")
    page.click("button[data-command=cancel_order]")
    page.fill('#action-fields [name="line:SKU-2"]', "1")
    page.fill('#action-fields [name="reason"]', "x")
    page.evaluate("document.querySelector('#action-fields [name=\"line:SKU-2\"]').max = '9'")
    page.fill('#action-fields [name="line:SKU-2"]', "5")
    page.click("#action-submit")
    expect(page.locator("#action-error")).to_contain_text("open units")
    expect(page.locator("#action")).to_be_visible()


def test_a_role_without_the_right_sees_no_action_and_is_refused_anyway(browser: Browser, shop: Served) -> None:
    page = browser.new_page()
    look_up(page, shop.base, shop.keys[Role.ANALYST], "ORD-7")
    expect(page.locator("#order-title")).to_have_text("ORD-7")
    expect(page.locator("#actions button")).to_have_count(0)
    expect(page.locator("#returns button")).to_have_count(0)
    status = page.evaluate(
        """async (key) => (await fetch('/v1/orders/ORD-7/notes', {method: 'POST', headers: {
            Authorization: `Bearer ${key}`, 'Content-Type': 'application/json'}, body: '{"text": "x"}'})).status""",
        shop.keys[Role.ANALYST],
    )
    assert status == 403


def test_support_sees_plain_errors_for_unknown_orders_and_bad_keys(browser: Browser, shop: Served) -> None:
    page = browser.new_page()
    look_up(page, shop.base, shop.keys[Role.SUPPORT], "NOPE-1")
    expect(page.locator("#message")).to_have_text("No orders found.")
    expect(page.locator("#order")).to_be_hidden()
    page.click("#sign-out")
    page.fill("#api-key", "oms_bad_key")
    page.click("#sign-in button[type=submit]")
    expect(page.locator("#message")).to_have_class("error")
    expect(page.locator("#search")).to_be_hidden()


def test_a_role_that_may_not_read_timelines_sees_the_order_and_is_told_why_not_the_timeline(
    browser: Browser, shop: Served
) -> None:
    page = browser.new_page()
    look_up(page, shop.base, shop.keys[Role.ANALYST], "ORD-7")
    expect(page.locator("#order-title")).to_have_text("ORD-7")
    expect(page.locator("#ship-to")).to_have_text("Withheld: this key's role may not see personal data.")
    expect(page.locator("#timeline-refused")).to_contain_text("role 'analyst' may not do this")
    expect(page.locator("#timeline tbody tr")).to_have_count(0)


def test_after_erasure_the_order_reads_on_with_its_ship_to_shown_as_erased(browser: Browser, shop: Served) -> None:
    erased = httpx.post(f"{shop.base}/v1/customers/C-7/erasure", headers=shop.headers(Role.ADMIN))
    assert erased.status_code == 200, erased.text
    page = browser.new_page()
    look_up(page, shop.base, shop.keys[Role.SUPPORT], "ORD-7")
    expect(page.locator("#ship-to")).to_have_text("Erased at the customer's request.")
    expect(page.locator("dd[data-field=status]")).to_have_text("partially_shipped")
    expect(page.locator("#lines tbody tr")).to_have_count(2)
    page.fill("#query", "ada@example.com")
    page.click("#search button[type=submit]")
    expect(page.locator("#message")).to_have_text("No orders found.")


def test_the_page_forbids_inline_script(shop: Served) -> None:
    answer = httpx.get(f"{shop.base}/support")
    assert answer.status_code == 200
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    assert httpx.get(f"{shop.base}/support/secrets.txt").status_code == 422
