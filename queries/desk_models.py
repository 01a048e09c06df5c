"""What the order desk reads: an order's shipments, returns, payments, holds and notes, and the hold rules."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, Field


class ShippedUnits(BaseModel):
    sku: str
    quantity: int


class ShipmentView(BaseModel):
    shipment_id: str
    location_id: str
    carrier: str | None
    tracking_number: str | None
    tracking_url: str | None
    lines: list[ShippedUnits]
    shipped_at: datetime
    delivered_at: datetime | None


class ReturnLineView(BaseModel):
    sku: str
    requested: int
    received: int
    reason: str


class ReplacementView(BaseModel):
    sku: str
    quantity: int
    unit_price: Decimal


class ReturnView(BaseModel):
    return_id: str
    status: str = Field(description="requested, declined, approved, partially_received, received or refunded.")
    lines: list[ReturnLineView]
    replacements: list[ReplacementView] = Field(description="An exchange's lines sent instead.")
    credit: Decimal = Field(description="What its receipts credited (units and shipping, with tax).")
    fee: Decimal = Field(description="Restocking fees kept.")
    refunded: Decimal
    refund_due: Decimal = Field(description="credit - fee - refunded.")
    decision_reason: str | None


class PaymentView(BaseModel):
    kind: str = Field(description="authorization, capture, void or refund.")
    amount: Decimal
    reference: str | None
    provider: str | None
    return_id: str | None
    occurred_at: datetime
    position: int = Field(description="The payment event's ledger position.")
    actor: str


class HoldView(BaseModel):
    hold_id: str
    kind: str = Field(description="payment, fraud, address, inventory or manual.")
    reason: str
    rule_id: str | None = Field(description="The hold rule that placed it, if one did.")
    release: str = Field(description="manual, or paid: it lets go once the order is paid.")
    open: bool
    placed_by: str
    placed_at: datetime
    released_by: str | None
    released_at: datetime | None
    release_reason: str | None


class NoteView(BaseModel):
    number: int = Field(description="1 for the order's first note, and so on.")
    text: str
    actor: str
    added_at: datetime


class HoldRuleView(BaseModel):
    rule_id: str
    kind: str
    reason: str
    above: Decimal | None
    currency: str | None
    channel: str | None
    unpaid: bool
    release: str
    updated_at: datetime
