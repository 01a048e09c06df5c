"""Typed results of the read side."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field, PrivateAttr

from queries.desk_models import HoldView, NoteView, PaymentView, ReturnView, ShipmentView


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
    last_position: int = Field(default=0, description="Ledger position of its last event: pass as `changed_after`.")
    version: int
    prices_include_tax: bool = False
    subtotal: Decimal = Field(description="Unit price x units, for units not cancelled.")
    discounts: Decimal = Field(description="Line and allocated order discounts of those units.")
    shipping: Decimal = Field(description="Shipping fees less shipping discounts (none once every unit is cancelled).")
    tax: Decimal = Field(description="Taxes of those units and of the shipping.")
    returns: Decimal = Field(description="What received returns credited (units and shipping, with tax).")
    fees: Decimal = Field(description="Restocking fees kept.")
    owed: Decimal = Field(description="total - returns + fees.")
    open_authorization: Decimal
    balance_due: Decimal = Field(description="owed - (captured - refunded), when positive.")
    refund_due: Decimal = Field(description="(captured - refunded) - owed, when positive.")
    refundable: Decimal = Field(description="captured - refunded.")
    on_hold: bool = Field(default=False, description="A hold is open: shipping is refused until it is released.")


class OrderLineRow(BaseModel):
    sku: str
    quantity: int
    unit_price: Decimal
    discount: Decimal = Field(description="Discounts of the units not cancelled.")
    tax: Decimal = Field(description="Tax of the units not cancelled.")
    committed: int
    backordered: int
    shipped: int
    delivered: int
    cancelled: int
    return_requested: int
    returned: int


class OrderDetail(OrderRow):
    line_items: list[OrderLineRow]
    shipments: list[ShipmentView] = Field(default_factory=list)
    return_items: list[ReturnView] = Field(default_factory=list, description="The returns (``returns`` is money).")
    payments: list[PaymentView] = Field(default_factory=list)
    holds: list[HoldView] = Field(default_factory=list)
    notes: list[NoteView] = Field(default_factory=list)
    personal_data: Literal["none", "present", "erased", "withheld"] = Field(
        default="none",
        description="Whether the ship-to details are shown: none were given, present, erased at the customer's"
        " request, or withheld from this role.",
    )
    ship_to: dict[str, Any] | None = Field(default=None, description="Name, address, email and phone, when present.")
    # The sealed form from the read model; the API opens it for roles that may see it.
    _sealed: str | None = PrivateAttr(default=None)

    @classmethod
    def of(cls, row: dict[str, Any], lines: list[OrderLineRow], desk: dict[str, Any]) -> OrderDetail:
        fields = {k: v for k, v in row.items() if k != "personal_data"}
        documents = {
            "shipments": desk.get("shipments", []),
            "return_items": desk.get("returns", []),
            "payments": desk.get("payments", []),
            "holds": desk.get("holds", []),
            "notes": desk.get("notes", []),
        }
        detail = cls.model_validate({**fields, "line_items": lines, **documents})
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
    net_revenue: dict[str, Decimal] = Field(
        description="By currency: net sales of the cohort's orders (after discounts, cancellations and returns;"
        " without tax and shipping)."
    )
    average_order_value: dict[str, Decimal] = Field(
        description="By currency: net revenue / orders not cancelled, in the currency's minor unit."
    )
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
    orders_held: int = Field(description="Orders that were ever on hold.")
    hold_hours_total: float = Field(description="Hours the released holds were open, added up.")
    hold_hours_mean: float | None = Field(description="Mean hours a hold was open, over released holds.")


class KpiAnswer(BaseModel):
    rows: list[KpiRow]


class ProjectionStatus(BaseModel):
    name: str
    position: int
    head: int
    lag: int
    updated_at: datetime | None


class FinanceRow(BaseModel):
    """Money of one period, currency and channel (formulas in docs/read-models.md, Finance)."""

    period_start: date | None = Field(description="First day of the period; null for granularity=total.")
    currency: str
    channel: str
    orders: int = Field(description="Orders placed.")
    gross_sales: Decimal = Field(description="Unit price x units placed, without tax.")
    discounts: Decimal = Field(description="Line and order discounts of the units placed.")
    cancellations: Decimal = Field(description="Net value (after discounts, without tax) of units cancelled.")
    returns: Decimal = Field(description="Net value of units returned.")
    net_sales: Decimal = Field(description="gross_sales - discounts - cancellations - returns.")
    shipping: Decimal = Field(description="Shipping charged, without tax, less shipping cancelled or refunded.")
    tax: Decimal = Field(description="Tax charged, less tax of units and shipping cancelled or returned.")
    fees: Decimal = Field(description="Restocking fees kept.")
    total_sales: Decimal = Field(description="net_sales + shipping + tax + fees.")
    authorized: Decimal
    captured: Decimal
    voided: Decimal
    refunded: Decimal
    outstanding_authorizations: Decimal = Field(description="Open authorizations at the period's end.")
    balance_due: Decimal = Field(description="What customers owe at the period's end.")
    refund_due: Decimal = Field(description="What is owed back to customers at the period's end.")


class FinanceAnswer(BaseModel):
    rows: list[FinanceRow]


class PaymentRow(BaseModel):
    position: int = Field(description="The payment event's ledger position.")
    order_id: str
    occurred_at: datetime
    currency: str
    channel: str
    kind: str
    amount: Decimal
    provider: str | None
    reference: str | None
    return_id: str | None


class PaymentsPage(BaseModel):
    items: list[PaymentRow]
    next_cursor: str | None


class BalanceRow(BaseModel):
    order_id: str
    currency: str
    channel: str
    status: str
    payment_status: str
    placed_at: datetime
    owed: Decimal
    authorized: Decimal
    captured: Decimal
    refunded: Decimal
    open_authorization: Decimal
    balance_due: Decimal
    refund_due: Decimal


class BalancesPage(BaseModel):
    items: list[BalanceRow]
    next_cursor: str | None
