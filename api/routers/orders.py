from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from api.deps import ContainerDep, require
from api.errors import READ_ERRORS, Forbidden
from api.keys import Principal, Role
from api.notifications import store as notifications
from api.reads import CSV_ANSWER, Cursor, Limit, MinPosition, ReadConnection, Reader, caught_up, exported_pages
from api.routers.paths import OrderIdPath
from api.schemas.common import _ID_PATTERN, PRINTABLE_PATTERN, LedgerTime
from queries import audit, orders
from queries.audit import Timeline
from queries.models import OrderDetail, OrderRow, OrdersPage

router = APIRouter(prefix="/v1/orders", tags=["orders"])
Support = Annotated[Principal, Depends(require(Role.SUPPORT, Role.AUDITOR))]
# Analysts read orders for figures; they have no need of names and addresses.
SEES_PERSONAL_DATA = frozenset({Role.ADMIN, Role.SUPPORT, Role.INTEGRATOR})
Status = Annotated[str | None, Query(max_length=32, pattern=r"^[a-z_]+$")]


@router.get("", response_model=OrdersPage, responses={**READ_ERRORS, **CSV_ANSWER})
def list_orders(
    request: Request,
    conn: ReadConnection,
    container: ContainerDep,
    principal: Reader,
    status: Status = None,
    on_hold: Annotated[bool | None, Query(description="Only orders on hold (true) or not (false).")] = None,
    channel: Annotated[str | None, Query(max_length=32, pattern=PRINTABLE_PATTERN)] = None,
    customer_id: Annotated[str | None, Query(max_length=64, pattern=_ID_PATTERN)] = None,
    email: Annotated[
        str | None,
        Query(
            max_length=254,
            pattern=r"^[^@\s]+@[^@\s]+$",
            description="Orders shipped to this email (any case); for roles that may see personal data.",
        ),
    ] = None,
    placed_from: Annotated[LedgerTime | None, Query(description="Placed at or after (ISO 8601 with a zone).")] = None,
    placed_to: Annotated[LedgerTime | None, Query(description="Placed before (ISO 8601 with a zone).")] = None,
    updated_after: Annotated[
        LedgerTime | None, Query(description="Whose last event happened after this (business time).")
    ] = None,
    changed_after: Annotated[
        int | None,
        Query(ge=0, description="Whose last event is after this ledger position: the sure way to sync changes."),
    ] = None,
    cursor: Cursor = None,
    limit: Limit = 100,
    min_position: MinPosition = None,
) -> OrdersPage | Response:
    """Orders, newest first, with status, payment status, totals and milestones."""
    caught_up(conn, container, "orders", min_position)
    if email is not None and principal.role not in SEES_PERSONAL_DATA:
        raise Forbidden(f"role {principal.role.value!r} may not search by email")
    query = partial(
        orders.list_orders,
        email=email,
        status=status,
        on_hold=on_hold,
        channel=channel,
        customer_id=customer_id,
        placed_from=placed_from,
        placed_to=placed_to,
        updated_after=updated_after,
        changed_after=changed_after,
    )
    return exported_pages(
        request,
        container,
        conn,
        query,
        model=OrderRow,
        cursor=cursor,
        limit=limit,
        filename="orders",
    )


@router.get("/{order_id}/timeline", response_model=Timeline, responses=READ_ERRORS)
def order_timeline(
    order_id: OrderIdPath, conn: ReadConnection, container: ContainerDep, _: Support, min_position: MinPosition = None
) -> Timeline:
    """Every event of the order and every stock movement it caused, in ledger order, in words."""
    caught_up(conn, container, "audit", min_position)
    return audit.timeline(conn, order_id)


class EmailSent(BaseModel):
    position: int = Field(description="The event the email is about.")
    kind: str = Field(description="confirmed, shipped, delivered, cancelled or refunded")
    result: str = Field(description="sent, opted_out, erased, no_email, refused or stale")
    detail: str | None
    message_id: str | None
    recorded_at: datetime


class EmailsSent(BaseModel):
    order_id: str
    items: list[EmailSent]


@router.get("/{order_id}/notifications", response_model=EmailsSent, responses=READ_ERRORS)
def order_notifications(order_id: OrderIdPath, conn: ReadConnection, _: Support) -> EmailsSent:
    """The emails the order's customer was sent (or why not), one per event, for support."""
    return EmailsSent(order_id=order_id, items=[EmailSent(**row) for row in notifications.sent_for(conn, order_id)])


@router.get("/{order_id}", response_model=OrderDetail, responses=READ_ERRORS)
def get_order(
    order_id: OrderIdPath,
    conn: ReadConnection,
    container: ContainerDep,
    principal: Reader,
    min_position: MinPosition = None,
) -> OrderDetail:
    """One order with its lines, and its ship-to details for roles that may see them."""
    caught_up(conn, container, "orders", min_position)
    detail = orders.get_order(conn, order_id)
    if detail.sealed is None:
        return detail
    if principal.role not in SEES_PERSONAL_DATA:
        return detail.model_copy(update={"personal_data": "withheld"})
    revealed = container.ledger.personal_data.reveal(detail.customer_id, detail.sealed)
    return detail.model_copy(update={"personal_data": revealed.disclosure.value, "ship_to": revealed.data})
