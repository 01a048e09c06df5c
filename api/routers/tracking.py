"""The customer's tracking page: ``GET /track/{order_id}?t=<token>``, linked from their emails.

No API key: the token (``api.notifications.tracking``) opens this one order's status,
shipments, carriers and tracking links, and nothing else: no name, address, price or payment.
A wrong or missing token answers the same 404 as an order that does not exist.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from api.deps import ContainerDep
from api.errors import PAGE_ERRORS
from api.notifications.tracking import load_key, valid
from api.reads import ReadConnection
from api.routers.paths import OrderIdPath
from domain.errors import OrderNotFound
from queries.orders import get_order

router = APIRouter(tags=["tracking"])
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none';"
    " frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "private, no-store",
}
# Every OrderStatus, in the customer's words (tests/api/test_notifications.py checks none is missing).
WORDS = {
    "partially_committed": "We have your order and are gathering it.",
    "committed": "We have your order and are preparing it.",
    "backordered": "We have your order and are waiting for stock.",
    "partially_shipped": "Part of your order is on its way.",
    "shipped": "Your order is on its way.",
    "partially_delivered": "Part of your order was delivered.",
    "delivered": "Your order was delivered.",
    "completed": "Your order was delivered.",
    "cancelled": "Your order was cancelled.",
}


@cache
def _page() -> Environment:
    return Environment(loader=PackageLoader("api.notifications", "templates"), autoescape=select_autoescape(["html"]))


@router.get(
    "/track/{order_id}",
    response_class=Response,
    responses={
        200: {"content": {"text/html": {"schema": {"type": "string"}}}, "description": "The tracking page"},
        **PAGE_ERRORS,
    },
)
def track_order(
    order_id: OrderIdPath,
    conn: ReadConnection,
    container: ContainerDep,
    t: Annotated[
        str, Query(min_length=1, max_length=64, pattern=r"^[0-9a-f]+$", description="The token from the email.")
    ],
) -> HTMLResponse:
    """An order's status and parcels for its customer, opened by the token in their emails."""
    if not valid(load_key(conn), order_id, t):
        raise OrderNotFound(f"no order {order_id!r}")
    order = get_order(conn, order_id)
    status = str(order.status)
    html = (
        _page()
        .get_template("page/track.html")
        .render(
            order=order,
            status_words=WORDS.get(status, status.replace("_", " ")),
            shop_name=container.settings.shop_name,
        )
    )
    return HTMLResponse(html, headers=_HEADERS)
