"""Typed results of the read side."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field, PrivateAttr


class _Sku(BaseModel):
    sku: str


class _SkuAtLocation(_Sku):
    location_id: str


class Buckets(BaseModel):
    available: int
    committed: int
    damaged: int
    quality_control: int
    safety_stock: int
    incoming: int
    on_hand: int
    backorders: int
    reorder_point: int
    low_stock: bool
    last_movement_at: datetime | None


class StockRow(Buckets, _SkuAtLocation):  # base order puts sku and location_id first
    reorder_quantity: int
    safety_stock_target: int
    allow_backorder: bool
    version: int


class StockTotals(Buckets, _Sku):
    locations: int


class StockOfSku(BaseModel):
    sku: str
    total: StockTotals
    locations: list[StockRow]


class StockPage(BaseModel):
    items: list[StockRow]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class LocationRow(BaseModel):
    location_id: str
    name: str
    kind: str
    priority: int
    registered_at: datetime


class OrderRow(BaseModel):
    order_id: str
    status: str
    payment_status: str
    return_status: str
    channel: str
    customer_id: str
    currency: str
    total: Decimal
    ordered_total: Decimal
    lines: int
    units_ordered: int
    units_committed: int
    units_backordered: int
    units_shipped: int
    units_delivered: int
    units_cancelled: int
    units_returned: int
    authorized: Decimal
    captured: Decimal
    refunded: Decimal
    voided: Decimal
    location_id: str | None
    placed_at: datetime
    first_shipped_at: datetime | None
    last_shipped_at: datetime | None
    delivered_at: datetime | None
    cancelled_at: datetime | None
    promised_ship_by: datetime | None
    promised_delivery_by: datetime | None
    updated_at: datetime
    version: int


class OrderLineRow(BaseModel):
    sku: str
    quantity: int
    unit_price: Decimal
    committed: int
    backordered: int
    shipped: int
    delivered: int
    cancelled: int
    return_requested: int
    returned: int


class OrderDetail(OrderRow):
    line_items: list[OrderLineRow]
    personal_data: Literal["none", "present", "erased", "withheld"] = Field(
        default="none",
        description="Whether the ship-to details are shown: none were given, present, erased at the customer's"
        " request, or withheld from this role.",
    )
    ship_to: dict[str, Any] | None = Field(default=None, description="Name, address, email and phone, when present.")
    # The sealed form from the read model; the API opens it for roles that may see it.
    _sealed: str | None = PrivateAttr(default=None)

    @classmethod
    def of(cls, row: dict[str, Any], lines: list[OrderLineRow]) -> OrderDetail:
        fields = {k: v for k, v in row.items() if k != "personal_data"}
        detail = cls.model_validate({**fields, "line_items": lines})
        detail._sealed = row.get("personal_data")
        return detail

    @property
    def sealed(self) -> str | None:
        return self._sealed


class OrdersPage(BaseModel):
    items: list[OrderRow]
    next_cursor: str | None


class KpiRow(BaseModel):
    period_start: date | None = Field(description="First day of the period; null for granularity=total.")
    channel: str | None = None
    location_id: str | None = None
    orders_placed: int
    units_ordered: int
    gmv: dict[str, Decimal]
    orders_backordered: int
    fill_rate: float | None
    orders_shipped: int
    ship_hours_mean: float | None
    ship_hours_p50: float | None
    ship_hours_p90: float | None
    orders_delivered: int
    delivery_days_mean: float | None
    delivery_days_p50: float | None
    delivery_days_p90: float | None
    shipped_on_time_rate: float | None
    delivered_on_time_rate: float | None
    orders_cancelled: int
    cancellation_rate: float | None
    units_shipped: int
    units_returned: int
    return_rate: float | None
    perfect_order_rate: float | None


class KpiAnswer(BaseModel):
    rows: list[KpiRow]


class ProjectionStatus(BaseModel):
    name: str
    position: int
    head: int
    lag: int
    updated_at: datetime | None
