"""Order: lines with per-line quantities, payments, shipments, deliveries and returns.

Every line keeps ``quantity == committed + backordered + shipped + cancelled``;
``allocations`` says at which locations the open (committed and backordered) units
are held. Status and payment status are derived, never stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from operator import itemgetter
from typing import Any
from uuid import UUID

from domain import payments
from domain.base import LedgerAggregate, require_positive, stream_id
from domain.errors import (
    AlreadyExists,
    InvalidCommand,
    InvalidTransition,
    ReturnNotFound,
    ShipmentNotFound,
    UnknownLine,
)
from domain.meta import Meta
from domain.money import check_amount, check_currency
from domain.payments import PaymentKind
from domain.sourcing import Allocation
from domain.stock import Disposition

LineState = dict[str, Any]


def _new_line(sku: str, quantity: int, unit_price: Decimal) -> LineState:
    return {
        "sku": sku,
        "quantity": quantity,
        "unit_price": unit_price,
        "committed": 0,
        "backordered": 0,
        "shipped": 0,
        "delivered": 0,
        "cancelled": 0,
        "return_requested": 0,
        "returned": 0,
        "allocations": {},
    }


def _seal_upcast(state: dict[str, Any]) -> None:
    """Version 1 kept the ship-to address in clear. The domain holds no keys to seal it,
    so it leaves the domain here; sealed versions carry ``personal_data`` instead."""
    state.pop("ship_to", None)
    state.setdefault("personal_data", None)


class Order(LedgerAggregate):
    class_version = 2  # snapshots: see Placed

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        _seal_upcast(state)

    def __init__(
        self,
        *,
        order_id: str,
        channel: str,
        customer_id: str,
        personal_data: str | None,
        currency: str,
        location_id: str | None,
        promised_ship_by: datetime | None,
        promised_delivery_by: datetime | None,
        lines: list[dict[str, Any]],
        occurred_at: datetime,
    ) -> None:
        self.order_id = order_id
        self.channel = channel
        self.customer_id = customer_id
        # The ship-to name, address, email and phone, sealed with the customer's key:
        # opaque here, and unreadable for good once the key is erased.
        self.personal_data = personal_data
        self.currency = currency
        self.location_id = location_id
        self.promised_ship_by = promised_ship_by
        self.promised_delivery_by = promised_delivery_by
        self.placed_at = occurred_at
        self.lines: dict[str, LineState] = {}
        for placed in lines:
            line = _new_line(placed["sku"], placed["quantity"], placed["unit_price"])
            for allocation in placed["allocations"]:
                _hold(line, allocation["location_id"], allocation["committed"], allocation["backordered"])
            self.lines[placed["sku"]] = line
        self.payments = payments.empty()
        self.shipments: dict[str, dict[str, Any]] = {}
        self.returns: dict[str, dict[str, Any]] = {}

    @staticmethod
    def id_for(order_id: str) -> UUID:
        return stream_id("order", order_id)

    # --- reading ---------------------------------------------------------------

    def total_of(self, field: str) -> int:
        return sum(map(itemgetter(field), self.lines.values()))  # no Python frame per line

    @property
    def total(self) -> Decimal:
        """The value of the units not cancelled: what the customer owes."""
        return sum(
            (line["unit_price"] * (line["quantity"] - line["cancelled"]) for line in self.lines.values()),
            Decimal(0),
        )

    @property
    def status(self) -> str:
        active = self.total_of("quantity") - self.total_of("cancelled")
        delivered, shipped = self.total_of("delivered"), self.total_of("shipped")
        committed, backordered = self.total_of("committed"), self.total_of("backordered")
        if active == 0:
            return "cancelled"
        if delivered >= active:
            return "completed" if self.payment_status in {"paid", "partially_refunded", "refunded"} else "delivered"
        if delivered:
            return "partially_delivered"
        if shipped >= active:
            return "shipped"
        if shipped:
            return "partially_shipped"
        if not backordered:
            return "committed"
        if not committed:
            return "backordered"
        return "partially_committed"

    @property
    def return_status(self) -> str:
        requested, returned = self.total_of("return_requested"), self.total_of("returned")
        if not requested:
            return "none"
        if returned >= requested:
            return "returned"
        return "partially_returned" if returned else "return_requested"

    @property
    def payment_status(self) -> str:
        return payments.status(self.payments, self.total)

    def open_locations(self) -> list[str]:
        """Locations holding open units of this order."""
        return sorted({loc for line in self.lines.values() for loc in line["allocations"]})

    # --- commands --------------------------------------------------------------

    @classmethod
    def place(
        cls,
        *,
        order_id: str,
        channel: str,
        customer_id: str,
        personal_data: str | None,
        currency: str,
        lines: Sequence[tuple[str, int, Decimal]],
        plan: Mapping[str, Sequence[Allocation]],
        location_id: str | None,
        promised_ship_by: datetime | None,
        promised_delivery_by: datetime | None,
        meta: Meta,
    ) -> Order:
        check_currency(currency)
        if not lines:
            raise InvalidCommand("an order needs at least one line")
        skus = [sku for sku, _, _ in lines]
        if len(set(skus)) != len(skus):
            raise InvalidCommand("each SKU may appear on one line only")
        placed = []
        for sku, quantity, unit_price in lines:
            require_positive(quantity, f"quantity of {sku}")
            check_amount(unit_price, currency, allow_zero=True, what=f"unit_price of {sku}")
            allocations = plan[sku]
            if sum(a.committed + a.backordered for a in allocations) != quantity:
                raise InvalidCommand(f"the sourcing plan for {sku} does not cover the line")
            placed.append(
                {
                    "sku": sku,
                    "quantity": quantity,
                    "unit_price": unit_price,
                    "allocations": [
                        {"location_id": a.location_id, "committed": a.committed, "backordered": a.backordered}
                        for a in allocations
                    ],
                }
            )
        for name, promise in (("promised_ship_by", promised_ship_by), ("promised_delivery_by", promised_delivery_by)):
            if promise is not None and promise.utcoffset() is None:
                raise InvalidCommand(f"{name} must carry a time zone")
        return cls._create(
            cls.Placed,
            id=cls.id_for(order_id),
            order_id=order_id,
            channel=channel,
            customer_id=customer_id,
            personal_data=personal_data,
            currency=currency,
            location_id=location_id,
            promised_ship_by=promised_ship_by,
            promised_delivery_by=promised_delivery_by,
            lines=placed,
            **meta.fields(),
        )

    def record_payment(self, kind: PaymentKind, amount: Decimal, reference: str | None, meta: Meta) -> None:
        check_amount(amount, self.currency)
        if kind in (PaymentKind.AUTHORIZATION, PaymentKind.CAPTURE) and self.status == "cancelled":
            raise InvalidTransition(f"order {self.order_id!r} is cancelled; it takes no new payments")
        name, fields = payments.decide(self.payments, kind, amount)
        event_class: type[LedgerAggregate.Event] = getattr(self, name)
        self.trigger_event(event_class, **meta.fields(), **fields, reference=reference)

    def cancel(self, reason: str, lines: Mapping[str, int] | None, meta: Meta) -> list[dict[str, Any]]:
        """Cancel open units (all of them when ``lines`` is None); returns the releases."""
        everything = {sku: line["committed"] + line["backordered"] for sku, line in self.lines.items()}
        wanted = self._wanted(lines, everything, "cancel")
        cancelled = []
        for sku, quantity in wanted.items():
            line = self._line(sku)
            require_positive(quantity, f"quantity of {sku}")
            open_units = line["committed"] + line["backordered"]
            if quantity > open_units:
                raise InvalidTransition(f"line {sku} has {open_units} open units; cannot cancel {quantity}")
            cancelled.append({"sku": sku, "quantity": quantity, "releases": _releases(line, quantity)})
        self.trigger_event(self.Cancelled, **meta.fields(), reason=reason, lines=cancelled)
        return cancelled

    def ship(
        self,
        shipment_id: str,
        location_id: str | None,
        lines: Mapping[str, int] | None,
        *,
        carrier: str | None,
        tracking_number: str | None,
        meta: Meta,
        ranked_locations: Sequence[str] = (),
    ) -> tuple[str, list[dict[str, Any]]]:
        """Ship from one location; without lines, every committed unit held there.

        Without a location, ship from the best-ranked one holding open units of the
        lines. Returns the location and what left it, per line.
        """
        if shipment_id in self.shipments:
            raise AlreadyExists(f"shipment {shipment_id!r} already exists on order {self.order_id!r}")
        if location_id is None:
            location_id = self._ship_from(lines, ranked_locations)
        everything = {
            sku: line["allocations"].get(location_id, {"committed": 0})["committed"] for sku, line in self.lines.items()
        }
        wanted = self._wanted(lines, everything, f"ship from {location_id!r}")
        shipped = []
        for sku, quantity in wanted.items():
            line = self._line(sku)
            require_positive(quantity, f"quantity of {sku}")
            held = line["allocations"].get(location_id, {"committed": 0, "backordered": 0})
            if quantity > held["committed"] + held["backordered"]:
                raise InvalidTransition(
                    f"line {sku} holds {held['committed'] + held['backordered']} units at {location_id!r}; "
                    f"cannot ship {quantity}"
                )
            from_committed = min(quantity, held["committed"])
            shipped.append({"sku": sku, "committed": from_committed, "backordered": quantity - from_committed})
        self.trigger_event(
            self.Shipped,
            **meta.fields(),
            shipment_id=shipment_id,
            location_id=location_id,
            carrier=carrier,
            tracking_number=tracking_number,
            lines=shipped,
        )
        return location_id, shipped

    def _ship_from(self, lines: Mapping[str, int] | None, ranked_locations: Sequence[str]) -> str:
        holding = {
            location_id
            for sku, line in self.lines.items()
            if lines is None or sku in lines
            for location_id in line["allocations"]
        }
        for location_id in ranked_locations:
            if location_id in holding:
                return location_id
        raise InvalidTransition(f"order {self.order_id!r} holds no open units to ship")

    def deliver(self, shipment_id: str, meta: Meta) -> None:
        shipment = self.shipments.get(shipment_id)
        if shipment is None:
            raise ShipmentNotFound(f"order {self.order_id!r} has no shipment {shipment_id!r}")
        if shipment["delivered_at"] is not None:
            raise InvalidTransition(f"shipment {shipment_id!r} is already delivered")
        self.trigger_event(self.Delivered, **meta.fields(), shipment_id=shipment_id)

    def request_return(self, return_id: str, lines: Mapping[str, tuple[int, str]], meta: Meta) -> None:
        if return_id in self.returns:
            raise AlreadyExists(f"return {return_id!r} already exists on order {self.order_id!r}")
        if not lines:
            raise InvalidCommand("a return needs at least one line")
        requested = []
        for sku, (quantity, reason) in lines.items():
            line = self._line(sku)
            require_positive(quantity, f"quantity of {sku}")
            returnable = line["shipped"] - line["return_requested"]
            if quantity > returnable:
                raise InvalidTransition(f"line {sku} has {returnable} shipped units left to return, not {quantity}")
            requested.append({"sku": sku, "quantity": quantity, "reason": reason})
        self.trigger_event(self.ReturnRequested, **meta.fields(), return_id=return_id, lines=requested)

    def receive_return(
        self, return_id: str, location_id: str, lines: Sequence[tuple[str, int, Disposition]], *, meta: Meta
    ) -> None:
        """Receive returned units; one SKU may come back partly restocked, partly damaged."""
        requested = self.returns.get(return_id)
        if requested is None:
            raise ReturnNotFound(f"order {self.order_id!r} has no return {return_id!r}")
        if not lines:
            raise InvalidCommand("a return receipt needs at least one line")
        received = []
        arriving: dict[str, int] = {}
        for sku, quantity, disposition in lines:
            require_positive(quantity, f"quantity of {sku}")
            expected = requested["lines"].get(sku)
            if expected is None:
                raise UnknownLine(f"return {return_id!r} has no line {sku!r}")
            arriving[sku] = arriving.get(sku, 0) + quantity
            outstanding = expected["requested"] - expected["received"]
            if arriving[sku] > outstanding:
                raise InvalidTransition(
                    f"return {return_id!r} expects {outstanding} more of {sku}, not {arriving[sku]}"
                )
            received.append({"sku": sku, "quantity": quantity, "disposition": disposition.value})
        self.trigger_event(
            self.ReturnReceived, **meta.fields(), return_id=return_id, location_id=location_id, lines=received
        )

    def _wanted(self, lines: Mapping[str, int] | None, everything: dict[str, int], action: str) -> dict[str, int]:
        """The named line quantities, or (``lines`` None) every line's non-zero share of ``everything``."""
        if lines is not None:
            if not lines:
                raise InvalidCommand(f"name at least one line to {action}")
            return dict(lines)
        wanted = {sku: quantity for sku, quantity in everything.items() if quantity}
        if not wanted:
            raise InvalidTransition(f"order {self.order_id!r} has nothing to {action} ({self.status})")
        return wanted

    def _line(self, sku: str) -> LineState:
        line = self.lines.get(sku)
        if line is None:
            raise UnknownLine(f"order {self.order_id!r} has no line for SKU {sku!r}")
        return line

    # --- events ----------------------------------------------------------------

    class Placed(LedgerAggregate.Created):
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            _seal_upcast(state)

        order_id: str
        channel: str
        customer_id: str
        personal_data: str | None
        currency: str
        location_id: str | None
        promised_ship_by: datetime | None
        promised_delivery_by: datetime | None
        lines: list[dict[str, Any]]

    class PaymentAuthorized(LedgerAggregate.Event):
        amount: Decimal
        reference: str | None

        def apply(self, aggregate: Order) -> None:
            aggregate.payments["authorized"] += self.amount

    class PaymentCaptured(LedgerAggregate.Event):
        amount: Decimal
        authorized: Decimal
        reference: str | None

        def apply(self, aggregate: Order) -> None:
            aggregate.payments["authorized"] += self.authorized
            aggregate.payments["captured"] += self.amount

    class PaymentVoided(LedgerAggregate.Event):
        amount: Decimal
        reference: str | None

        def apply(self, aggregate: Order) -> None:
            aggregate.payments["voided"] += self.amount

    class PaymentRefunded(LedgerAggregate.Event):
        amount: Decimal
        reference: str | None

        def apply(self, aggregate: Order) -> None:
            aggregate.payments["refunded"] += self.amount

    class Cancelled(LedgerAggregate.Event):
        reason: str
        lines: list[dict[str, Any]]

        def apply(self, aggregate: Order) -> None:
            for cancelled in self.lines:
                line = aggregate.lines[cancelled["sku"]]
                line["cancelled"] += cancelled["quantity"]
                for release in cancelled["releases"]:
                    _hold(line, release["location_id"], -release["committed"], -release["backordered"])

    class Shipped(LedgerAggregate.Event):
        shipment_id: str
        location_id: str
        carrier: str | None
        tracking_number: str | None
        lines: list[dict[str, Any]]

        def apply(self, aggregate: Order) -> None:
            for shipped in self.lines:
                line = aggregate.lines[shipped["sku"]]
                _hold(line, self.location_id, -shipped["committed"], -shipped["backordered"])
                line["shipped"] += shipped["committed"] + shipped["backordered"]
            aggregate.shipments[self.shipment_id] = {
                "location_id": self.location_id,
                "carrier": self.carrier,
                "tracking_number": self.tracking_number,
                "lines": {s["sku"]: s["committed"] + s["backordered"] for s in self.lines},
                "shipped_at": self.occurred_at,
                "delivered_at": None,
            }

    class Delivered(LedgerAggregate.Event):
        shipment_id: str

        def apply(self, aggregate: Order) -> None:
            shipment = aggregate.shipments[self.shipment_id]
            shipment["delivered_at"] = self.occurred_at
            for sku, quantity in shipment["lines"].items():
                aggregate.lines[sku]["delivered"] += quantity

    class ReturnRequested(LedgerAggregate.Event):
        return_id: str
        lines: list[dict[str, Any]]

        def apply(self, aggregate: Order) -> None:
            aggregate.returns[self.return_id] = {
                "lines": {
                    line["sku"]: {"requested": line["quantity"], "received": 0, "reason": line["reason"]}
                    for line in self.lines
                }
            }
            for line in self.lines:
                aggregate.lines[line["sku"]]["return_requested"] += line["quantity"]

    class ReturnReceived(LedgerAggregate.Event):
        return_id: str
        location_id: str
        lines: list[dict[str, Any]]

        def apply(self, aggregate: Order) -> None:
            requested = aggregate.returns[self.return_id]["lines"]
            for line in self.lines:
                requested[line["sku"]]["received"] += line["quantity"]
                aggregate.lines[line["sku"]]["returned"] += line["quantity"]


def _hold(line: LineState, location_id: str, committed: int, backordered: int) -> None:
    """Change the open units a line holds at a location (negative to let go)."""
    held = line["allocations"].setdefault(location_id, {"committed": 0, "backordered": 0})
    held["committed"] += committed
    held["backordered"] += backordered
    line["committed"] += committed
    line["backordered"] += backordered
    if not held["committed"] and not held["backordered"]:
        del line["allocations"][location_id]


def _releases(line: LineState, quantity: int) -> list[dict[str, Any]]:
    """Which held units a cancellation lets go: backorders first, then committed stock."""
    releases = []
    remaining = quantity
    for field in ("backordered", "committed"):
        for location_id in sorted(line["allocations"], reverse=True):
            take = min(line["allocations"][location_id][field], remaining)
            if take:
                releases.append(
                    {
                        "location_id": location_id,
                        "committed": take if field == "committed" else 0,
                        "backordered": take if field == "backordered" else 0,
                    }
                )
                remaining -= take
    return _merge_releases(releases)


def _merge_releases(releases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for release in releases:
        into = merged.setdefault(
            release["location_id"], {"location_id": release["location_id"], "committed": 0, "backordered": 0}
        )
        into["committed"] += release["committed"]
        into["backordered"] += release["backordered"]
    return list(merged.values())
