"""The OpenAPI description, and /docs and /redoc rendering with no network."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Route, expect

from tests.api.conftest import Api, Served
from tests.api.test_support_page import browser

__all__ = ["browser"]  # the module's Chromium fixture, shared


@pytest.fixture
def spec(api: Api) -> dict[str, Any]:
    answer: dict[str, Any] = api.client.get("/openapi.json").json()
    return answer


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def test_every_operation_has_a_readable_id_and_every_answer_an_example(spec: dict[str, Any]) -> None:
    ids = [op["operationId"] for _, _, op in operations(spec)]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z]+(?:[A-Z][a-z]*)*", i) for i in ids), ids
    assert {"placeOrder", "getOrderTimeline", "listOrders", "getReadiness", "getMetrics"} <= set(ids)
    for path, method, op in operations(spec):
        for status, response in op["responses"].items():
            for media, content in response.get("content", {}).items():
                assert "example" in content or "examples" in content, (path, method, status, media)


def test_keys_errors_and_headers_are_described(spec: dict[str, Any]) -> None:
    assert spec["components"]["securitySchemes"]["apiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": spec["components"]["securitySchemes"]["apiKey"]["description"],
    }
    for path, _, op in operations(spec):
        assert ("security" in op) == path.startswith("/v1"), path
        for status, response in op["responses"].items():
            assert "X-Request-Id" in response["headers"]
            if int(status) >= 400:
                assert list(response["content"]) == ["application/problem+json"], (path, status)
                assert response["content"]["application/problem+json"]["schema"]["$ref"].endswith("/Problem")
            if status == "503":
                assert "Retry-After" in response["headers"]
    placed = spec["paths"]["/v1/orders"]["post"]["responses"]["201"]["headers"]
    assert {"ETag", "Location", "Idempotent-Replayed", "X-Request-Id"} <= set(placed)


@pytest.mark.parametrize(("page_path", "rendered"), [("/docs", ".swagger-ui .opblock"), ("/redoc", ".redoc-wrap")])
def test_the_docs_render_with_the_network_blocked(
    browser: Browser, served_as: Served, page_path: str, rendered: str
) -> None:
    page = browser.new_page()
    outside: list[str] = []

    def only_the_service(route: Route) -> None:
        if route.request.url.startswith(served_as.base):
            route.continue_()
        else:
            outside.append(route.request.resource_type)
            route.abort()

    page.route("**/*", only_the_service)
    page.goto(served_as.base + page_path)
    expect(page.locator(rendered).first).to_be_visible(timeout=20_000)
    expect(page.get_by_text("placeOrder" if page_path == "/docs" else "Place Order").first).to_be_attached()
    # Nothing it needs comes from outside: ReDoc's bundle only links its own logo, and goes without.
    assert set(outside) <= {"image"}
    page.close()
