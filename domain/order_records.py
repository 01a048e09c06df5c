"""An order's typed state and event payloads: frozen records, changed only by putting new ones
in place of old ones, and the upcasters that turn the dicts of earlier versions into them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from domain.payments import Payments, PaymentStatus
from domain.pricing import NO_AMOUNTS, Amounts, Discount, ShippingLine, TaxLine
from domain.sourcing import Allocation
from domain.stock import Disposition


class OrderStatus(StrEnum):
    PARTIALLY_COMMITTED = "partially_committed"
    COMMITTED = "committed"
    BACKORDERED = "backordered"
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"
    PARTIALLY_DELIVERED = "partially_delivered"
    DELIVERED = "delivered"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


# Delivered in full: the delivery milestone is reached.
DELIVERED_STATUSES = frozenset({OrderStatus.DELIVERED, OrderStatus.COMPLETED})
SETTLED = frozenset({PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED})


class ReturnStatus(StrEnum):
    NONE = "none"
    RETURN_REQUESTED = "return_requested"
    PARTIALLY_RETURNED = "partially_returned"
    RETURNED = "returned"


class HoldKind(StrEnum):
    PAYMENT = "payment"
    FRAUD = "fraud"
    ADDRESS = "address"
    INVENTORY = "inventory"
    MANUAL = "manual"


class HoldRelease(StrEnum):
    """How a hold lets go: by a person, or by itself once the order is paid."""

    MANUAL = "manual"
    PAID = "paid"


class ReturnStep(StrEnum):
    """Where a return stands in review. Returns opened before review existed were open at once."""

    REQUESTED = "requested"
    APPROVED = "approved"
    DECLINED = "declined"


# --- state ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hold:
    """Open units a line holds at one location."""

    committed: int = 0
    backordered: int = 0


NOTHING_HELD = Hold()


@dataclass(frozen=True, slots=True)
class Line:
    sku: str
    quantity: int
    unit_price: Decimal
    committed: int = 0
    backordered: int = 0
    shipped: int = 0
    delivered: int = 0
    cancelled: int = 0
    return_requested: int = 0
    returned: int = 0
    allocations: Mapping[str, Hold] = field(default_factory=dict)
    # Price terms (lines placed before them have none) and what cancellations and received
    # returns have taken off the line's amounts, as their events recorded it.
    discounts: tuple[Discount, ...] = ()
    taxes: tuple[TaxLine, ...] = ()
    cancelled_amounts: Amounts = NO_AMOUNTS
    returned_amounts: Amounts = NO_AMOUNTS

    @property
    def open_units(self) -> int:
        return self.committed + self.backordered

    @property
    def amounts(self) -> Amounts:
        """Price, discounts and tax of every unit placed."""
        if not self.discounts and not self.taxes:
            return Amounts(self.unit_price * self.quantity)
        return Amounts(
            self.unit_price * self.quantity,
            sum((d.amount for d in self.discounts), Decimal(0)),
            sum((t.amount for t in self.taxes), Decimal(0)),
        )

    @property
    def kept_units(self) -> int:
        """Units neither cancelled nor returned: what the next cancellation or return takes from."""
        return self.quantity - self.cancelled - self.returned

    @property
    def kept_amounts(self) -> Amounts:
        return self.amounts - self.cancelled_amounts - self.returned_amounts

    def held_at(self, location_id: str) -> Hold:
        return self.allocations.get(location_id) or NOTHING_HELD

    def holding(self, location_id: str, committed: int, backordered: int) -> Line:
        """This line with the open units held at a location changed (negative to let go)."""
        return self.changed(location_id, committed, backordered)

    def changed(
        self,
        location_id: str | None = None,
        committed: int = 0,
        backordered: int = 0,
        *,
        shipped: int = 0,
        delivered: int = 0,
        cancelled: int = 0,
        return_requested: int = 0,
        returned: int = 0,
    ) -> Line:
        """This line with its counts moved by the given amounts, and the open units held at
        ``location_id`` by ``committed`` and ``backordered``: one new record per event, however
        many counts it moves (an order line changes with every event of its order)."""
        allocations = self.allocations
        if location_id is not None:
            held = self.held_at(location_id)
            now = Hold(held.committed + committed, held.backordered + backordered)
            allocations = {k: v for k, v in allocations.items() if k != location_id}
            if now.committed or now.backordered:
                allocations[location_id] = now
        return Line(
            self.sku,
            self.quantity,
            self.unit_price,
            self.committed + committed,
            self.backordered + backordered,
            self.shipped + shipped,
            self.delivered + delivered,
            self.cancelled + cancelled,
            self.return_requested + return_requested,
            self.returned + returned,
            allocations,
            self.discounts,
            self.taxes,
            self.cancelled_amounts,
            self.returned_amounts,
        )


@dataclass(frozen=True, slots=True)
class Shipment:
    location_id: str
    carrier: str | None
    tracking_number: str | None
    lines: Mapping[str, int]
    shipped_at: datetime
    delivered_at: datetime | None = None
    tracking_url: str | None = None


@dataclass(frozen=True, slots=True)
class Note:
    text: str
    actor: str
    added_at: datetime


@dataclass(frozen=True, slots=True)
class ReturnLineState:
    requested: int
    received: int
    reason: str


@dataclass(frozen=True, slots=True)
class Return:
    lines: Mapping[str, ReturnLineState]
    # What its receipts credited (returned units and shipping, with their tax), the restocking
    # fees kept, and the refunds that named it.
    credit: Decimal = Decimal(0)
    fee: Decimal = Decimal(0)
    refunded: Decimal = Decimal(0)
    # Review, and an exchange's replacement lines (priced when requested, held once approved).
    step: ReturnStep = ReturnStep.APPROVED
    replacements: tuple[AddedLine, ...] = ()
    decision_reason: str | None = None

    @property
    def refund_due(self) -> Decimal:
        return self.credit - self.fee - self.refunded

    @property
    def status(self) -> str:
        """requested, declined, approved, partially_received, received or refunded."""
        if self.step is not ReturnStep.APPROVED:
            return self.step.value
        requested = sum(line.requested for line in self.lines.values())
        received = sum(line.received for line in self.lines.values())
        if received == 0:
            return "approved"
        if received < requested:
            return "partially_received"
        return "refunded" if self.refunded > 0 and self.refund_due <= 0 else "received"


@dataclass(frozen=True, slots=True)
class OrderHold:
    """A hold on the order's shipments: open until released, by a person or by itself."""

    kind: HoldKind
    reason: str
    placed_by: str
    placed_at: datetime
    rule_id: str | None = None  # the hold rule that placed it, if one did
    release: HoldRelease = HoldRelease.MANUAL
    released_at: datetime | None = None
    released_by: str | None = None
    release_reason: str | None = None

    @property
    def is_open(self) -> bool:
        return self.released_at is None


# --- event payloads ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlacedLine:
    sku: str
    quantity: int
    unit_price: Decimal
    allocations: tuple[Allocation, ...]
    discounts: tuple[Discount, ...] = ()
    taxes: tuple[TaxLine, ...] = ()


@dataclass(frozen=True, slots=True)
class AddedLine:
    """Units added after placement (an edit, an exchange's replacements), priced as placed lines
    are and held where sourcing put them; a SKU the order has already grows by them."""

    sku: str
    quantity: int
    unit_price: Decimal
    allocations: tuple[Allocation, ...] = ()
    discounts: tuple[Discount, ...] = ()
    taxes: tuple[TaxLine, ...] = ()


@dataclass(frozen=True, slots=True)
class Release:
    location_id: str
    committed: int
    backordered: int


@dataclass(frozen=True, slots=True)
class CancelledLine:
    sku: str
    quantity: int
    releases: tuple[Release, ...]
    # What the units took off the line's amounts; None in events from before amounts were
    # recorded (their lines had no discounts or taxes, so it is unit price x quantity).
    amounts: Amounts | None = None


@dataclass(frozen=True, slots=True)
class ShippedLine:
    sku: str
    committed: int
    backordered: int

    @property
    def quantity(self) -> int:
        return self.committed + self.backordered


@dataclass(frozen=True, slots=True)
class RequestedLine:
    sku: str
    quantity: int
    reason: str


@dataclass(frozen=True, slots=True)
class ReceivedLine:
    sku: str
    quantity: int
    disposition: Disposition
    amounts: Amounts | None = None  # as on CancelledLine


# Every dataclass an Order's state or events hold, for the transcoder.
RECORDS: tuple[type[Any], ...] = (
    Hold,
    Line,
    Shipment,
    Note,
    ReturnLineState,
    Return,
    PlacedLine,
    Allocation,
    Release,
    CancelledLine,
    ShippedLine,
    RequestedLine,
    ReceivedLine,
    Payments,
    Amounts,
    Discount,
    TaxLine,
    ShippingLine,
    OrderHold,
    AddedLine,
)


def records_of(rows: Sequence[Any], cls: type[Any]) -> tuple[Any, ...]:
    return tuple(row if isinstance(row, cls) else cls(**row) for row in rows)


def placed_lines(rows: Sequence[Any]) -> tuple[PlacedLine, ...]:
    return tuple(
        row
        if isinstance(row, PlacedLine)
        else PlacedLine(
            row["sku"],
            row["quantity"],
            row["unit_price"],
            records_of(row["allocations"], Allocation),
            records_of(row.get("discounts", ()), Discount),
            records_of(row.get("taxes", ()), TaxLine),
        )
        for row in rows
    )


def seal_upcast(state: dict[str, Any]) -> None:
    """Version 1 kept the ship-to address in clear. The domain holds no keys to seal it,
    so it leaves the domain here; sealed versions carry ``personal_data`` instead."""
    state.pop("ship_to", None)
    state.setdefault("personal_data", None)


def typed_state_upcast(state: dict[str, Any]) -> None:
    """Version 2 kept lines, payments, shipments and returns as plain dicts."""
    state["lines"] = {
        sku: line
        if isinstance(line, Line)
        else Line(**{**line, "allocations": {k: Hold(**v) for k, v in line["allocations"].items()}})
        for sku, line in state["lines"].items()
    }
    if isinstance(state["payments"], dict):
        state["payments"] = Payments(**state["payments"])
    state["shipments"] = {k: v if isinstance(v, Shipment) else Shipment(**v) for k, v in state["shipments"].items()}
    state.setdefault("notes", [])
    state["returns"] = {
        k: v if isinstance(v, Return) else Return({sku: ReturnLineState(**line) for sku, line in v["lines"].items()})
        for k, v in state["returns"].items()
    }


def money_upcast(state: dict[str, Any]) -> None:
    """Version 3 had no price terms: tax-exclusive, no order discounts, no shipping, no fees; what
    its cancellations and received returns took off a line was unit price x units, and what a
    return credited, the units it received at their price."""
    lines: dict[str, Line] = state["lines"]
    for sku, line in lines.items():
        lines[sku] = replace(
            line,
            cancelled_amounts=Amounts(line.unit_price * line.cancelled),
            returned_amounts=Amounts(line.unit_price * line.returned),
        )
    state["returns"] = {
        return_id: replace(
            returned,
            credit=sum((lines[sku].unit_price * r.received for sku, r in returned.lines.items()), Decimal(0)),
        )
        for return_id, returned in state["returns"].items()
    }
    state.setdefault("prices_include_tax", False)
    state.setdefault("order_discounts", [])
    state.setdefault("shipping_lines", [])
    state.setdefault("shipping_cancelled", NO_AMOUNTS)
    state.setdefault("shipping_returned", NO_AMOUNTS)
    state.setdefault("fees", Decimal(0))


def desk_upcast(state: dict[str, Any]) -> None:
    """Version 4 had no holds."""
    state.setdefault("holds", {})


def adding(line: Line | None, added: AddedLine) -> Line:
    """The line with the added units on it, held where they were allocated; taxes of the same
    name add up, so a rate keeps one tax line."""
    if line is None:
        line = Line(added.sku, 0, added.unit_price)
    taxes = {tax.name: tax for tax in line.taxes}
    for tax in added.taxes:
        before = taxes.get(tax.name)
        taxes[tax.name] = tax if before is None else replace(before, amount=before.amount + tax.amount)
    line = replace(line, quantity=line.quantity + added.quantity, discounts=line.discounts + added.discounts)
    line = replace(line, taxes=tuple(taxes.values()))
    for allocation in added.allocations:
        line = line.holding(allocation.location_id, allocation.committed, allocation.backordered)
    return line


def payment_upcast(state: dict[str, Any]) -> None:
    """Payment events of version 1 named no provider."""
    state.setdefault("provider", None)


def refund_upcast(state: dict[str, Any]) -> None:
    """... and no refund named a return."""
    payment_upcast(state)
    state.setdefault("return_id", None)
