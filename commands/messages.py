"""Command messages: what integrators ask the ledger to do, in the imperative.

Messages are plain values; shape is checked at the edge and rules in the domain.
An id left out (``order_id``, ``shipment_id`` ...) is generated once, before the
first attempt, so retries and idempotent repeats keep it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from domain.buckets import Bucket
from domain.locations import LocationKind
from domain.order_records import HoldKind, HoldRelease
from domain.payments import PaymentKind
from domain.pricing import Discount, LineTerms, ShippingTerms, TaxRate
from domain.stock import AdjustmentReason, Disposition

NewId = Callable[[], str]


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    occurred_at: datetime | None = None

    def with_ids(self, new_id: NewId) -> Command:
        return self


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterLocation(Command):
    location_id: str
    name: str
    kind: LocationKind
    priority: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceiveStock(Command):
    sku: str
    location_id: str
    quantity: int
    reference: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AdjustStock(Command):
    """Either ``delta`` or ``counted_quantity`` (a physical count of on-hand units)."""

    sku: str
    location_id: str
    reason: AdjustmentReason
    delta: int | None = None
    counted_quantity: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MoveStock(Command):
    sku: str
    location_id: str
    from_bucket: Bucket
    to_bucket: Bucket
    quantity: int
    reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferStock(Command):
    sku: str
    from_location_id: str
    to_location_id: str
    quantity: int
    transfer_id: str | None = None

    def with_ids(self, new_id: NewId) -> TransferStock:
        return self if self.transfer_id else replace(self, transfer_id=new_id())


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceiveTransfer(Command):
    transfer_id: str
    quantity: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SetStockPolicy(Command):
    sku: str
    location_id: str
    reorder_point: int
    reorder_quantity: int
    safety_stock: int
    allow_backorder: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderLine:
    sku: str
    quantity: int
    unit_price: Decimal
    discounts: tuple[Discount, ...] = ()
    taxes: tuple[TaxRate, ...] = ()

    def terms(self) -> LineTerms | None:
        return LineTerms(self.discounts, self.taxes) if self.discounts or self.taxes else None


@dataclass(frozen=True, slots=True, kw_only=True)
class LineQuantity:
    sku: str
    quantity: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaceOrder(Command):
    channel: str
    customer_id: str
    currency: str
    lines: tuple[OrderLine, ...]
    order_id: str | None = None
    ship_to: dict[str, Any] | None = None
    location_id: str | None = None
    promised_ship_by: datetime | None = None
    promised_delivery_by: datetime | None = None
    # Price terms, as the shop front sends them (``domain.pricing``).
    prices_include_tax: bool = False
    discounts: tuple[Discount, ...] = ()
    shipping: tuple[ShippingTerms, ...] = ()

    def with_ids(self, new_id: NewId) -> PlaceOrder:
        return self if self.order_id else replace(self, order_id=new_id())


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordPayment(Command):
    order_id: str
    kind: PaymentKind
    amount: Decimal
    reference: str | None = None
    provider: str | None = None
    return_id: str | None = None  # a refund may name the return it pays


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelOrder(Command):
    """Cancel the named line quantities, or every open unit when ``lines`` is None."""

    order_id: str
    reason: str
    lines: tuple[LineQuantity, ...] | None = None
    refund: bool = False  # refund what was paid beyond the new amount owed, in this command
    reference: str | None = None  # the refund's, at its provider
    provider: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ShipOrder(Command):
    """Ship from one location; without lines, every committed unit held there."""

    order_id: str
    shipment_id: str | None = None
    location_id: str | None = None
    lines: tuple[LineQuantity, ...] | None = None
    carrier: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None

    def with_ids(self, new_id: NewId) -> ShipOrder:
        return self if self.shipment_id else replace(self, shipment_id=new_id())


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliverShipment(Command):
    order_id: str
    shipment_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReturnLine:
    sku: str
    quantity: int
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestReturn(Command):
    """Open a return, approved at once or (``approve`` false) to be reviewed; ``replacements``
    make it an exchange."""

    order_id: str
    lines: tuple[ReturnLine, ...]
    return_id: str | None = None
    approve: bool = True
    replacements: tuple[OrderLine, ...] = ()

    def with_ids(self, new_id: NewId) -> RequestReturn:
        return self if self.return_id else replace(self, return_id=new_id())


@dataclass(frozen=True, slots=True, kw_only=True)
class ReturnReceiptLine:
    sku: str
    quantity: int
    disposition: Disposition


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceiveReturn(Command):
    order_id: str
    return_id: str
    location_id: str
    lines: tuple[ReturnReceiptLine, ...]
    restocking_fee: Decimal = Decimal(0)
    refund_shipping: bool = False
    refund: bool = False  # refund the credit less the fee, naming the return, in this command
    reference: str | None = None
    provider: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AddOrderNote(Command):
    """A note on an order, for the people who handle it; not sent to the customer."""

    order_id: str
    text: str


# --- the order desk ------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PlaceHold(Command):
    """Hold the order's shipments until the hold is released."""

    order_id: str
    kind: HoldKind
    reason: str
    hold_id: str | None = None

    def with_ids(self, new_id: NewId) -> PlaceHold:
        return self if self.hold_id else replace(self, hold_id=new_id())


@dataclass(frozen=True, slots=True, kw_only=True)
class ReleaseHold(Command):
    order_id: str
    hold_id: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SetHoldRule(Command):
    rule_id: str
    kind: HoldKind
    reason: str
    above: Decimal | None = None
    currency: str | None = None
    channel: str | None = None
    unpaid: bool = False
    release: HoldRelease = HoldRelease.MANUAL


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoveHoldRule(Command):
    rule_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AddOrderLine(Command):
    """An edit: a new line, held like a placed one."""

    order_id: str
    line: OrderLine
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeLineQuantity(Command):
    """An edit: the units ordered on a line, up (held like placed units) or down (let go of)."""

    order_id: str
    sku: str
    quantity: int
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoveOrderLine(Command):
    order_id: str
    sku: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeShipTo(Command):
    order_id: str
    ship_to: dict[str, Any]
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangePromisedDates(Command):
    order_id: str
    reason: str
    promised_ship_by: datetime | None = None
    promised_delivery_by: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ApproveReturn(Command):
    order_id: str
    return_id: str
    reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeclineReturn(Command):
    order_id: str
    return_id: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RefundReturn(Command):
    """Refund a received return: what it is owed, or ``amount`` of it."""

    order_id: str
    return_id: str
    amount: Decimal | None = None
    reference: str | None = None
    provider: str | None = None
