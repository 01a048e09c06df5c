from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from psycopg import sql
from pydantic import BaseModel, ConfigDict, Field

from api.deps import ContainerDep, require
from api.errors import READ_ERRORS
from api.keys import Principal, Role
from api.notifications import store as notifications
from api.routers.paths import CustomerIdPath
from queries.orders import ORDERS

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/customers", tags=["customers"])
Admin = Annotated[Principal, Depends(require())]


class ErasureAnswer(BaseModel):
    customer_id: str
    erased_at: datetime
    keys_deleted: int


@router.post("/{customer_id}/erasure", response_model=ErasureAnswer, responses=READ_ERRORS)
def erase_customer(customer_id: CustomerIdPath, container: ContainerDep, principal: Admin) -> ErasureAnswer:
    """Erase the customer's personal data (a privacy request): their key is deleted, the events stay.

    Orders keep their lines, statuses and money; their ship-to details read as `erased`.
    Repeating the request is harmless and is recorded again.
    """
    erasure = container.ledger.personal_data.erase(customer_id, principal.actor)
    # The email index is read-model data the projection can no longer rebuild for this customer.
    with container.pool.connection() as conn:
        conn.execute(sql.SQL("UPDATE {} SET email_hash = NULL WHERE customer_id = %s").format(ORDERS), (customer_id,))
    return ErasureAnswer(customer_id=customer_id, erased_at=erasure.erased_at, keys_deleted=erasure.keys_deleted)


class NotificationPreferences(BaseModel):
    customer_id: str
    email: bool = Field(description="Whether the customer gets order emails.")
    opted_out_at: datetime | None


class NotificationPreferencesBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: bool = Field(description="false: no more order emails to this customer; true: emails again.")


CustomerDesk = Annotated[Principal, Depends(require(Role.SUPPORT))]


@router.get("/{customer_id}/notifications", response_model=NotificationPreferences, responses=READ_ERRORS)
def get_notification_preferences(
    customer_id: CustomerIdPath, container: ContainerDep, _: CustomerDesk
) -> NotificationPreferences:
    """Whether the customer gets order emails (confirmed, shipped, delivered, cancelled, refunded)."""
    with container.pool.connection() as conn:
        since = notifications.opted_out(conn, customer_id)
    return NotificationPreferences(customer_id=customer_id, email=since is None, opted_out_at=since)


@router.put("/{customer_id}/notifications", response_model=NotificationPreferences, responses=READ_ERRORS)
def set_notification_preferences(
    customer_id: CustomerIdPath, body: NotificationPreferencesBody, container: ContainerDep, principal: CustomerDesk
) -> NotificationPreferences:
    """Opt the customer out of order emails, or back in; from the next event on."""
    with container.pool.connection() as conn, conn.transaction():
        since = notifications.set_opt_out(conn, customer_id, out=not body.email, actor=principal.actor)
    log.info(
        "customer %s %s order emails (by %s)", customer_id, "gets" if body.email else "opted out of", principal.actor
    )
    return NotificationPreferences(customer_id=customer_id, email=since is None, opted_out_at=since)
