"""Webhook subscriptions as the API takes and answers them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.schemas.common import _ID_PATTERN, PRINTABLE_PATTERN

Url = Annotated[str, StringConstraints(min_length=8, max_length=2000, pattern=r"^https?://[^\s]+$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WebhookFilter(Strict):
    channel: Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=PRINTABLE_PATTERN)] | None = Field(
        default=None, description="Only events of orders placed through this channel."
    )
    location_id: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=_ID_PATTERN)] | None = Field(
        default=None,
        description="Only events of stock at this location, and of orders with units held or shipped there.",
    )


class SubscriptionBody(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": "https://erp.example.com/hooks/oms",
                    "event_types": ["Order.Placed", "Order.Shipped"],
                    "filter": {"channel": "web"},
                    "description": "ERP order sync",
                }
            ]
        },
    )

    url: Url = Field(description="Where deliveries are POSTed: http(s), a public address unless allowed by settings.")
    event_types: list[Annotated[str, StringConstraints(pattern=r"^[A-Za-z]+\.[A-Za-z]+$")]] | None = Field(
        default=None, max_length=100, description="Event types to deliver, such as Order.Shipped; default all."
    )
    filter: WebhookFilter = Field(default_factory=WebhookFilter)
    description: Annotated[str, StringConstraints(max_length=200, pattern=PRINTABLE_PATTERN)] = ""
    max_attempts: int | None = Field(default=None, ge=1, le=100, description="Default OMS_WEBHOOK_MAX_ATTEMPTS.")
    after: int | None = Field(
        default=None, ge=0, description="Deliver events after this ledger position; default: only events from now on."
    )


class Subscription(BaseModel):
    id: str
    url: str
    event_types: list[str] | None
    filter: WebhookFilter
    description: str
    status: str = Field(description="active or paused")
    max_attempts: int
    position: int = Field(description="Events up to this ledger position have been dispatched.")
    created_by: str
    created_at: datetime
    updated_at: datetime
    secret_rotated_until: datetime | None = Field(
        description="Until then deliveries carry a second signature, by the secret before the last rotation."
    )


class SubscriptionWithSecret(Subscription):
    secret: str = Field(description="The signing secret (whsec_...), shown this once: keep it with the receiver.")


class SubscriptionList(BaseModel):
    items: list[Subscription]


class Attempt(BaseModel):
    attempt: int
    attempted_at: datetime
    status: int | None = Field(description="The receiver's HTTP status; null when none came.")
    latency_ms: float
    error: str | None


class Delivery(BaseModel):
    position: int = Field(description="The event's ledger position; also its webhook-id.")
    stream_id: str
    event_type: str
    state: str = Field(description="pending, delivered or dead")
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None
    last_status: int | None
    last_error: str | None


class DeliveryDetail(Delivery):
    body: dict[str, object]
    log: list[Attempt]


class DeliveryPage(BaseModel):
    items: list[Delivery]
    next_before: int | None = Field(description="Pass as `before` for older deliveries; null at the oldest.")


class ReplayBody(Strict):
    after: int = Field(ge=0, description="Deliver again every matching event after this ledger position.")
