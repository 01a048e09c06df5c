"""Order: lines with per-line quantities, payments, shipments, deliveries and returns.

Every line keeps ``quantity == committed + backordered + shipped + cancelled``;
``allocations`` says at which locations the open (committed and backordered) units
are held. Status and payment status are derived, never stored.

State and event payloads are frozen records (``domain.order_records``), changed only by the
events' ``apply``, which put new values in place of old ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from domain import payments
from domain.base import LedgerAggregate, require_positive, stream_id
from domain.errors import (
    AlreadyExists,
    InvalidCommand,
    InvalidTransition,
    RefundExceedsReturn,
    ShipmentNotFound,
    UnknownLine,
)
from domain.meta import Meta
from domain.money import check_amount, check_currency
from domain.order_desk import OrderDesk, Wanted, check_promises
from domain.order_money import OrderMoney, credited, money_of, return_amounts, settlement, shipping_kept
from domain.order_records import (
    DELIVERED_STATUSES,
    RECORDS,
    SETTLED,
    AddedLine,
    CancelledLine,
    Hold,
    HoldKind,
    HoldRelease,
    Line,
    Note,
    OrderHold,
    OrderStatus,
    PlacedLine,
    ReceivedLine,
    Release,
    RequestedLine,
    Return,
    ReturnLineState,
    ReturnStatus,
    ReturnStep,
    Shipment,
    ShippedLine,
    desk_upcast,
    money_upcast,
    payment_upcast,
    placed_lines,
    records_of,
    refund_upcast,
    seal_upcast,
    typed_state_upcast,
)
from domain.payments import PaymentKind, Payments, PaymentStatus
from domain.pricing import (
    NO_AMOUNTS,
    ZERO,
    Amounts,
    Discount,
    LineTerms,
    ShippingLine,
    ShippingTerms,
    price_lines,
    price_shipping,
    round_money,
)
from domain.sourcing import Allocation
from domain.stock import Disposition


class Order(OrderDesk):
    """An order; holds, edits and return review are the order desk's (``domain.order_desk``)."""

    class_version = 5  # snapshots: see Placed; 3 typed records where 2 held dicts; 4 price terms; 5 holds

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        seal_upcast(state)

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        typed_state_upcast(state)

    @staticmethod
    def upcast_v3_v4(state: dict[str, Any]) -> None:
        money_upcast(state)

    @staticmethod
    def upcast_v4_v5(state: dict[str, Any]) -> None:
        desk_upcast(state)

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
        lines: tuple[PlacedLine, ...],
        prices_include_tax: bool,
        discounts: Sequence[Discount],
        shipping: Sequence[ShippingLine],
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
        self.lines: dict[str, Line] = {}
        for placed in lines:
            held: dict[str, Hold] = {}
            for a in placed.allocations:
                before = held.get(a.location_id) or Hold()
                held[a.location_id] = Hold(before.committed + a.committed, before.backordered + a.backordered)
            self.lines[placed.sku] = Line(
                placed.sku,
                placed.quantity,
                placed.unit_price,
                committed=sum(h.committed for h in held.values()),
                backordered=sum(h.backordered for h in held.values()),
                allocations={k: h for k, h in held.items() if h.committed or h.backordered},
                discounts=tuple(placed.discounts),
                taxes=tuple(placed.taxes),
            )
        self.prices_include_tax = prices_include_tax
        # Lists, as JSON gives them back from a snapshot (like notes).
        self.order_discounts = list(discounts)  # as sent; their shares are on the lines
        self.shipping_lines = list(shipping)
        self.shipping_cancelled = NO_AMOUNTS
        self.shipping_returned = NO_AMOUNTS
        self.fees = ZERO  # restocking fees kept
        self.payments = Payments()
        self.shipments: dict[str, Shipment] = {}
        self.returns: dict[str, Return] = {}
        # A list, as JSON gives it back from a snapshot; each note adds a new one.
        self.notes: list[Note] = []
        self.holds: dict[str, OrderHold] = {}

    @staticmethod
    def id_for(order_id: str) -> UUID:
        return stream_id("order", order_id)

    # --- reading ---------------------------------------------------------------

    def total_of(self, field: str) -> int:
        return sum(getattr(line, field) for line in self.lines.values())

    @property
    def money(self) -> OrderMoney:
        """Subtotal, discounts, shipping, tax, total, returns and balances (``domain.order_money``)."""
        return money_of(self)

    @property
    def total(self) -> Decimal:
        """What the units not cancelled cost, with shipping and tax."""
        return self.money.total

    @property
    def active_units(self) -> int:
        return sum(line.quantity - line.cancelled for line in self.lines.values())

    @property
    def ordered_total(self) -> Decimal:
        """The value of every unit ordered, cancelled ones included."""
        return sum((line.unit_price * line.quantity for line in self.lines.values()), Decimal(0))

    @property
    def status(self) -> OrderStatus:
        lines = self.lines.values()
        active = sum(line.quantity - line.cancelled for line in lines)
        delivered = sum(line.delivered for line in lines)
        shipped = sum(line.shipped for line in lines)
        committed = sum(line.committed for line in lines)
        backordered = sum(line.backordered for line in lines)
        if active == 0:
            return OrderStatus.CANCELLED
        if delivered >= active:
            return OrderStatus.COMPLETED if self.payment_status in SETTLED else OrderStatus.DELIVERED
        if delivered:
            return OrderStatus.PARTIALLY_DELIVERED
        if shipped >= active:
            return OrderStatus.SHIPPED
        if shipped:
            return OrderStatus.PARTIALLY_SHIPPED
        if not backordered:
            return OrderStatus.COMMITTED
        if not committed:
            return OrderStatus.BACKORDERED
        return OrderStatus.PARTIALLY_COMMITTED

    @property
    def return_status(self) -> ReturnStatus:
        requested, returned = self.total_of("return_requested"), self.total_of("returned")
        if not requested:
            return ReturnStatus.NONE
        if returned >= requested:
            return ReturnStatus.RETURNED
        return ReturnStatus.PARTIALLY_RETURNED if returned else ReturnStatus.RETURN_REQUESTED

    @property
    def payment_status(self) -> PaymentStatus:
        return self.money.payment_status

    def open_locations(self) -> list[str]:
        """Locations holding open units of this order."""
        return sorted({loc for line in self.lines.values() for loc in line.allocations})

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
        terms: Mapping[str, LineTerms] | None = None,
        discounts: Sequence[Discount] = (),
        shipping: Sequence[ShippingTerms] = (),
        prices_include_tax: bool = False,
    ) -> Order:
        check_currency(currency)
        if not lines:
            raise InvalidCommand("an order needs at least one line")
        skus = [sku for sku, _, _ in lines]
        if len(set(skus)) != len(skus):
            raise InvalidCommand("each SKU may appear on one line only")
        for sku, quantity, unit_price in lines:
            require_positive(quantity, f"quantity of {sku}")
            check_amount(unit_price, currency, allow_zero=True, what=f"unit_price of {sku}")
            if sum(a.committed + a.backordered for a in plan[sku]) != quantity:
                raise InvalidCommand(f"the sourcing plan for {sku} does not cover the line")
        terms = terms or {}
        if set(terms) - set(skus):
            raise InvalidCommand(f"price terms name SKUs the order has no line for: {sorted(set(terms) - set(skus))}")
        if terms or discounts:
            priced = price_lines(
                [(sku, unit_price * quantity, terms.get(sku) or LineTerms()) for sku, quantity, unit_price in lines],
                discounts,
                prices_include_tax,
                currency,
            )
        else:
            priced = [((), ())] * len(lines)
        placed = [
            PlacedLine(sku, quantity, unit_price, tuple(plan[sku]), line_discounts, taxes)
            for (sku, quantity, unit_price), (line_discounts, taxes) in zip(lines, priced, strict=True)
        ]
        check_promises(promised_ship_by, promised_delivery_by)
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
            lines=tuple(placed),
            prices_include_tax=prices_include_tax,
            discounts=tuple(discounts),
            shipping=tuple(price_shipping(s, prices_include_tax, currency) for s in shipping),
            **meta.fields(),
        )

    def record_payment(
        self,
        kind: PaymentKind,
        amount: Decimal,
        reference: str | None,
        meta: Meta,
        *,
        provider: str | None = None,
        return_id: str | None = None,
        tolerance_percent: Decimal = ZERO,
    ) -> None:
        """Record a payment within the limits (``domain.payments``). A refund may name the
        return it pays, and then may not exceed what that return is owed."""
        check_amount(amount, self.currency)
        if return_id is not None:
            if kind is not PaymentKind.REFUND:
                raise InvalidCommand("only a refund names a return")
            paid = self.approved(return_id)
            if amount > paid.refund_due:
                raise RefundExceedsReturn(
                    f"return {return_id!r} is owed {paid.refund_due}, not {amount}", refund_due=str(paid.refund_due)
                )
        owed = self.money.owed
        limit = owed + round_money(owed * tolerance_percent / 100, self.currency)
        name, fields = payments.decide(self.payments, kind, amount, limit)
        event_class: type[LedgerAggregate.Event] = getattr(self, name)
        extra = {"return_id": return_id} if kind is PaymentKind.REFUND else {}
        self.trigger_event(event_class, **meta.fields(), **fields, reference=reference, provider=provider, **extra)
        if kind is PaymentKind.CAPTURE and self.open_holds and self.money.balance_due <= 0:
            self.release_paid_holds(meta)

    def cancel(
        self,
        reason: str,
        lines: Mapping[str, int] | None,
        meta: Meta,
        *,
        refund: bool = False,
        reference: str | None = None,
        provider: str | None = None,
    ) -> tuple[CancelledLine, ...]:
        """Cancel open units (all of them when ``lines`` is None); returns the releases.

        What the units cost comes off the order (and the shipping, when no unit is left); the
        open authorization no longer needed is voided; with ``refund``, what was paid beyond
        what is now owed is refunded, all in this one command."""
        everything = {sku: line.open_units for sku, line in self.lines.items()}
        wanted = self._wanted(lines, everything, "cancel")
        cancelled = []
        left = self.active_units
        for sku, quantity in wanted.items():
            line = self._line(sku)
            require_positive(quantity, f"quantity of {sku}")
            if quantity > line.open_units:
                raise InvalidTransition(f"line {sku} has {line.open_units} open units; cannot cancel {quantity}")
            amounts = line.kept_amounts.taking(quantity, line.kept_units, self.currency)
            cancelled.append(CancelledLine(sku, quantity, _releases(line, quantity), amounts))
            left -= quantity
        shipping = shipping_kept(self) if left == 0 else NO_AMOUNTS
        self.trigger_event(self.Cancelled, **meta.fields(), reason=reason, lines=tuple(cancelled), shipping=shipping)
        self._settle(meta, refund, reference, provider)
        return tuple(cancelled)

    def _settle(self, meta: Meta, refund: bool, reference: str | None, provider: str | None) -> None:
        """After the order's amount fell: void the open authorization it no longer needs and,
        if asked, refund what was paid beyond it."""
        void, refund_due = settlement(self.money)
        if void > 0:
            self.trigger_event(self.PaymentVoided, **meta.fields(), amount=void, reference=None, provider=None)
        if refund and refund_due > 0:
            self.trigger_event(
                self.PaymentRefunded,
                **meta.fields(),
                amount=refund_due,
                reference=reference,
                provider=provider,
                return_id=None,
            )

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
        tracking_url: str | None = None,
    ) -> tuple[str, tuple[ShippedLine, ...]]:
        """Ship from one location; without lines, every committed unit held there.

        Without a location, ship from the best-ranked one holding open units of the
        lines. Returns the location and what left it, per line.
        """
        if shipment_id in self.shipments:
            raise AlreadyExists(f"shipment {shipment_id!r} already exists on order {self.order_id!r}")
        self.require_no_hold()
        if location_id is None:
            location_id = self._ship_from(lines, ranked_locations)
        everything = {sku: line.held_at(location_id).committed for sku, line in self.lines.items()}
        wanted = self._wanted(lines, everything, f"ship from {location_id!r}")
        shipped = []
        for sku, quantity in wanted.items():
            line = self._line(sku)
            require_positive(quantity, f"quantity of {sku}")
            held = line.held_at(location_id)
            if quantity > held.committed + held.backordered:
                raise InvalidTransition(
                    f"line {sku} holds {held.committed + held.backordered} units at {location_id!r}; "
                    f"cannot ship {quantity}"
                )
            from_committed = min(quantity, held.committed)
            shipped.append(ShippedLine(sku, from_committed, quantity - from_committed))
        self.trigger_event(
            self.Shipped,
            **meta.fields(),
            shipment_id=shipment_id,
            location_id=location_id,
            carrier=carrier,
            tracking_number=tracking_number,
            lines=tuple(shipped),
            tracking_url=tracking_url,
        )
        return location_id, tuple(shipped)

    def _ship_from(self, lines: Mapping[str, int] | None, ranked_locations: Sequence[str]) -> str:
        holding = {
            location_id
            for sku, line in self.lines.items()
            if lines is None or sku in lines
            for location_id in line.allocations
        }
        for location_id in ranked_locations:
            if location_id in holding:
                return location_id
        raise InvalidTransition(f"order {self.order_id!r} holds no open units to ship")

    def deliver(self, shipment_id: str, meta: Meta) -> None:
        shipment = self.shipments.get(shipment_id)
        if shipment is None:
            raise ShipmentNotFound(f"order {self.order_id!r} has no shipment {shipment_id!r}")
        if shipment.delivered_at is not None:
            raise InvalidTransition(f"shipment {shipment_id!r} is already delivered")
        self.trigger_event(self.Delivered, **meta.fields(), shipment_id=shipment_id)

    def request_return(
        self,
        return_id: str,
        lines: Mapping[str, tuple[int, str]],
        meta: Meta,
        *,
        approve: bool = True,
        replacements: Sequence[Wanted] = (),
        plan: Mapping[str, Sequence[Allocation]] | None = None,
    ) -> None:
        """Open a return for shipped units: approved at once, or (``approve`` false) requested,
        to be approved or declined. ``replacements`` make it an exchange: priced now, and held
        (where ``plan`` says) once it is approved."""
        if return_id in self.returns:
            raise AlreadyExists(f"return {return_id!r} already exists on order {self.order_id!r}")
        if not lines:
            raise InvalidCommand("a return needs at least one line")
        requested = []
        for sku, (quantity, reason) in lines.items():
            line = self._line(sku)
            require_positive(quantity, f"quantity of {sku}")
            returnable = line.shipped - line.return_requested
            if quantity > returnable:
                raise InvalidTransition(f"line {sku} has {returnable} shipped units left to return, not {quantity}")
            requested.append(RequestedLine(sku, quantity, reason))
        priced = self.priced(replacements) if replacements else ()
        # An exchange approved at once still passes through review, where its replacements are held.
        review = not approve or bool(priced)
        self.trigger_event(
            self.ReturnRequested,
            **meta.fields(),
            return_id=return_id,
            lines=tuple(requested),
            awaiting_approval=review,
            replacements=priced,
        )
        if approve and review:
            self.approve_return(return_id, plan or {}, None, meta)

    def receive_return(
        self,
        return_id: str,
        location_id: str,
        lines: Sequence[tuple[str, int, Disposition]],
        *,
        meta: Meta,
        restocking_fee: Decimal = ZERO,
        refund_shipping: bool = False,
        refund: bool = False,
        reference: str | None = None,
        provider: str | None = None,
    ) -> Decimal:
        """Receive returned units; one SKU may come back partly restocked, partly damaged.

        The receipt credits the units' share of their lines' price, discounts and tax (and, with
        ``refund_shipping``, their share of the shipping), less ``restocking_fee``; with
        ``refund`` it refunds that in this command, naming the return. Returns the credit less
        the fee."""
        requested = self.approved(return_id)
        if not lines:
            raise InvalidCommand("a return receipt needs at least one line")
        received = []
        arriving: dict[str, int] = {}
        for sku, quantity, disposition in lines:
            require_positive(quantity, f"quantity of {sku}")
            expected = requested.lines.get(sku)
            if expected is None:
                raise UnknownLine(f"return {return_id!r} has no line {sku!r}")
            arriving[sku] = arriving.get(sku, 0) + quantity
            outstanding = expected.requested - expected.received
            if arriving[sku] > outstanding:
                raise InvalidTransition(
                    f"return {return_id!r} expects {outstanding} more of {sku}, not {arriving[sku]}"
                )
            received.append(ReceivedLine(sku, quantity, disposition))
        priced, shipping = return_amounts(self, received, refund_shipping)
        credit = credited((a.amounts for a in priced if a.amounts), shipping, self.prices_include_tax)
        check_amount(restocking_fee, self.currency, allow_zero=True, what="restocking_fee")
        if restocking_fee > credit:
            raise InvalidCommand(f"the restocking fee {restocking_fee} is more than the return credits ({credit})")
        self.trigger_event(
            self.ReturnReceived,
            **meta.fields(),
            return_id=return_id,
            location_id=location_id,
            lines=tuple(priced),
            shipping=shipping,
            restocking_fee=restocking_fee,
        )
        due = credit - restocking_fee
        if refund and due > 0:
            self.record_payment(PaymentKind.REFUND, due, reference, meta, provider=provider, return_id=return_id)
        return due

    def add_note(self, text: str, meta: Meta) -> None:
        if not text.strip():
            raise InvalidCommand("a note needs some text")
        self.trigger_event(self.NoteAdded, **meta.fields(), text=text)

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

    # --- events ----------------------------------------------------------------

    class Placed(LedgerAggregate.Created):
        class_version = 4

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            seal_upcast(state)

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            state["lines"] = placed_lines(state["lines"])

        order_id: str
        channel: str
        customer_id: str
        personal_data: str | None
        currency: str
        location_id: str | None
        promised_ship_by: datetime | None
        promised_delivery_by: datetime | None
        lines: Sequence[PlacedLine]  # a tuple when recorded, a list when read back
        prices_include_tax: bool
        discounts: Sequence[Discount]
        shipping: Sequence[ShippingLine]

        @staticmethod
        def upcast_v3_v4(state: dict[str, Any]) -> None:
            """Version 3 had no price terms."""
            state.setdefault("prices_include_tax", False)
            state.setdefault("discounts", ())
            state.setdefault("shipping", ())

    # Payment events name the provider beside its reference (version 2), so a settlement
    # report can be matched line by line; a refund may name the return it pays.
    class PaymentAuthorized(LedgerAggregate.Event):
        class_version = 2
        upcast_v1_v2 = staticmethod(payment_upcast)
        amount: Decimal
        reference: str | None
        provider: str | None

        def apply(self, aggregate: Order) -> None:
            aggregate.payments = aggregate.payments.authorize(self.amount)

    class PaymentCaptured(LedgerAggregate.Event):
        class_version = 2
        upcast_v1_v2 = staticmethod(payment_upcast)
        amount: Decimal
        authorized: Decimal
        reference: str | None
        provider: str | None

        def apply(self, aggregate: Order) -> None:
            aggregate.payments = aggregate.payments.capture(self.amount, self.authorized)

    class PaymentVoided(LedgerAggregate.Event):
        class_version = 2
        upcast_v1_v2 = staticmethod(payment_upcast)
        amount: Decimal
        reference: str | None
        provider: str | None

        def apply(self, aggregate: Order) -> None:
            aggregate.payments = aggregate.payments.void(self.amount)

    class PaymentRefunded(LedgerAggregate.Event):
        class_version = 2
        upcast_v1_v2 = staticmethod(refund_upcast)
        amount: Decimal
        reference: str | None
        provider: str | None
        return_id: str | None

        def apply(self, aggregate: Order) -> None:
            aggregate.payments = aggregate.payments.refund(self.amount)
            if self.return_id is not None:
                paid = aggregate.returns[self.return_id]
                aggregate.returns[self.return_id] = replace(paid, refunded=paid.refunded + self.amount)

    class Cancelled(LedgerAggregate.Event):
        class_version = 3

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["lines"] = tuple(
                line
                if isinstance(line, CancelledLine)
                else CancelledLine(line["sku"], line["quantity"], records_of(line["releases"], Release))
                for line in state["lines"]
            )

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            state.setdefault("shipping", NO_AMOUNTS)

        reason: str
        lines: Sequence[CancelledLine]  # a tuple when recorded, a list when read back
        shipping: Amounts  # the shipping that came off: all of it, when no unit is left

        def apply(self, aggregate: Order) -> None:
            for cancelled in self.lines:
                line = aggregate.lines[cancelled.sku]
                taken = cancelled.amounts or line.kept_amounts.taking(
                    cancelled.quantity, line.kept_units, aggregate.currency
                )
                line = line.changed(cancelled=cancelled.quantity)
                for release in cancelled.releases:
                    line = line.holding(release.location_id, -release.committed, -release.backordered)
                aggregate.lines[cancelled.sku] = replace(line, cancelled_amounts=line.cancelled_amounts + taken)
            aggregate.shipping_cancelled = aggregate.shipping_cancelled + self.shipping

    class Shipped(LedgerAggregate.Event):
        class_version = 3

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["lines"] = records_of(state["lines"], ShippedLine)

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            state.setdefault("tracking_url", None)

        shipment_id: str
        location_id: str
        carrier: str | None
        tracking_number: str | None
        lines: Sequence[ShippedLine]  # a tuple when recorded, a list when read back
        tracking_url: str | None

        def apply(self, aggregate: Order) -> None:
            for shipped in self.lines:
                line = aggregate.lines[shipped.sku]
                aggregate.lines[shipped.sku] = line.changed(
                    self.location_id, -shipped.committed, -shipped.backordered, shipped=shipped.quantity
                )
            aggregate.shipments[self.shipment_id] = Shipment(
                location_id=self.location_id,
                carrier=self.carrier,
                tracking_number=self.tracking_number,
                lines={s.sku: s.quantity for s in self.lines},
                shipped_at=self.occurred_at,
                tracking_url=self.tracking_url,
            )

    class Delivered(LedgerAggregate.Event):
        shipment_id: str

        def apply(self, aggregate: Order) -> None:
            shipment = aggregate.shipments[self.shipment_id]
            aggregate.shipments[self.shipment_id] = replace(shipment, delivered_at=self.occurred_at)
            for sku, quantity in shipment.lines.items():
                line = aggregate.lines[sku]
                aggregate.lines[sku] = line.changed(delivered=quantity)

    class ReturnRequested(LedgerAggregate.Event):
        class_version = 3

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["lines"] = records_of(state["lines"], RequestedLine)

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            """Returns were open at once before review, and had no replacements."""
            state.setdefault("awaiting_approval", False)
            state.setdefault("replacements", ())

        return_id: str
        lines: Sequence[RequestedLine]  # a tuple when recorded, a list when read back
        awaiting_approval: bool  # approved (ReturnApproved) or declined next
        replacements: Sequence[AddedLine]  # an exchange's, priced; held when approved

        def apply(self, aggregate: Order) -> None:
            aggregate.returns[self.return_id] = Return(
                {line.sku: ReturnLineState(line.quantity, 0, line.reason) for line in self.lines},
                step=ReturnStep.REQUESTED if self.awaiting_approval else ReturnStep.APPROVED,
                replacements=records_of(self.replacements, AddedLine),
            )
            for requested in self.lines:
                line = aggregate.lines[requested.sku]
                aggregate.lines[requested.sku] = line.changed(return_requested=requested.quantity)

    class ReturnReceived(LedgerAggregate.Event):
        class_version = 3

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["lines"] = tuple(
                line
                if isinstance(line, ReceivedLine)
                else ReceivedLine(line["sku"], line["quantity"], Disposition(line["disposition"]))
                for line in state["lines"]
            )

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            state.setdefault("shipping", NO_AMOUNTS)
            state.setdefault("restocking_fee", Decimal(0))

        return_id: str
        location_id: str
        lines: Sequence[ReceivedLine]  # a tuple when recorded, a list when read back
        shipping: Amounts  # shipping refunded with these units
        restocking_fee: Decimal

        def apply(self, aggregate: Order) -> None:
            requested = aggregate.returns[self.return_id]
            expected = dict(requested.lines)
            taken_all = []
            for received in self.lines:
                state = expected[received.sku]
                expected[received.sku] = replace(state, received=state.received + received.quantity)
                line = aggregate.lines[received.sku]
                taken = received.amounts or line.kept_amounts.taking(
                    received.quantity, line.kept_units, aggregate.currency
                )
                taken_all.append(taken)
                line = line.changed(returned=received.quantity)
                aggregate.lines[received.sku] = replace(line, returned_amounts=line.returned_amounts + taken)
            aggregate.returns[self.return_id] = replace(
                requested,
                lines=expected,
                credit=requested.credit + credited(taken_all, self.shipping, aggregate.prices_include_tax),
                fee=requested.fee + self.restocking_fee,
            )
            aggregate.shipping_returned = aggregate.shipping_returned + self.shipping
            aggregate.fees += self.restocking_fee

    class NoteAdded(LedgerAggregate.Event):
        text: str

        def apply(self, aggregate: Order) -> None:
            aggregate.notes = [*aggregate.notes, Note(self.text, self.actor, self.occurred_at)]


def _releases(line: Line, quantity: int) -> tuple[Release, ...]:
    """Which held units a cancellation lets go: backorders first, then committed stock."""
    released: dict[str, Release] = {}
    remaining = quantity
    for kind in ("backordered", "committed"):
        for location_id in sorted(line.allocations, reverse=True):
            take = min(getattr(line.allocations[location_id], kind), remaining)
            if take:
                before = released.get(location_id) or Release(location_id, 0, 0)
                released[location_id] = replace(before, **{kind: getattr(before, kind) + take})
                remaining -= take
    return tuple(released.values())


__all__ = [
    "DELIVERED_STATUSES",
    "RECORDS",
    "AddedLine",
    "CancelledLine",
    "Hold",
    "HoldKind",
    "HoldRelease",
    "Line",
    "Note",
    "Order",
    "OrderHold",
    "OrderStatus",
    "PlacedLine",
    "ReceivedLine",
    "Release",
    "RequestedLine",
    "Return",
    "ReturnLineState",
    "ReturnStatus",
    "ReturnStep",
    "Shipment",
    "ShippedLine",
]
