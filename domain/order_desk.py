"""The order desk: holds, edits after placement and the review of returns.

``Order`` inherits these commands and their events; the library nests each event class in
``Order`` too, so they are stored under ``domain.orders:Order.<Event>`` like the rest. The
command methods check every rule; the events only apply.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from domain.base import LedgerAggregate, require_positive
from domain.errors import (
    AlreadyExists,
    AlreadyShipped,
    HoldNotFound,
    InvalidCommand,
    InvalidTransition,
    OrderOnHold,
    ReturnNotApproved,
    ReturnNotFound,
    UnknownLine,
)
from domain.meta import Meta
from domain.order_records import (
    AddedLine,
    CancelledLine,
    HoldKind,
    HoldRelease,
    Line,
    OrderHold,
    Return,
    ReturnStep,
    adding,
    records_of,
)
from domain.pricing import LineTerms, TaxRate, price_lines
from domain.sourcing import Allocation

# (sku, quantity, unit price, terms): units asked for after placement.
Wanted = tuple[str, int, Decimal, LineTerms | None]


def check_promises(promised_ship_by: datetime | None, promised_delivery_by: datetime | None) -> None:
    for name, promise in (("promised_ship_by", promised_ship_by), ("promised_delivery_by", promised_delivery_by)):
        if promise is not None and promise.utcoffset() is None:
            raise InvalidCommand(f"{name} must carry a time zone")


def _reason(reason: str) -> str:
    if not reason.strip():
        raise InvalidCommand("a reason is required")
    return reason


class OrderDesk(LedgerAggregate):
    # Order's state and the one command of Order's own these commands use (domain.orders).
    order_id: str
    currency: str
    prices_include_tax: bool
    lines: dict[str, Line]
    returns: dict[str, Return]
    holds: dict[str, OrderHold]
    personal_data: str | None
    promised_ship_by: datetime | None
    promised_delivery_by: datetime | None
    cancel: Callable[..., tuple[CancelledLine, ...]]

    # --- holds -------------------------------------------------------------------

    @property
    def open_holds(self) -> dict[str, OrderHold]:
        return {hold_id: hold for hold_id, hold in self.holds.items() if hold.is_open}

    def place_hold(
        self,
        hold_id: str,
        kind: HoldKind,
        reason: str,
        meta: Meta,
        *,
        rule_id: str | None = None,
        release: HoldRelease = HoldRelease.MANUAL,
    ) -> None:
        if hold_id in self.holds:
            raise AlreadyExists(f"hold {hold_id!r} already exists on order {self.order_id!r}")
        if not any(line.open_units for line in self.lines.values()):
            raise InvalidTransition(f"order {self.order_id!r} has nothing left to ship, so nothing to hold")
        self.trigger_event(
            self.HoldPlaced,
            **meta.fields(),
            hold_id=hold_id,
            kind=kind.value,
            reason=_reason(reason),
            rule_id=rule_id,
            release=release.value,
        )

    def release_hold(self, hold_id: str, reason: str, meta: Meta) -> None:
        hold = self.holds.get(hold_id)
        if hold is None:
            raise HoldNotFound(f"order {self.order_id!r} has no hold {hold_id!r}")
        if not hold.is_open:
            raise InvalidTransition(f"hold {hold_id!r} was released already")
        self.trigger_event(self.HoldReleased, **meta.fields(), hold_id=hold_id, reason=_reason(reason), automatic=False)

    def release_paid_holds(self, meta: Meta) -> None:
        """The order is paid: holds that wait for that let go by themselves."""
        for hold_id, hold in self.open_holds.items():
            if hold.release is HoldRelease.PAID:
                self.trigger_event(self.HoldReleased, **meta.fields(), hold_id=hold_id, reason="paid", automatic=True)

    def require_no_hold(self) -> None:
        held = self.open_holds
        if held:
            names = ", ".join(f"{hold_id} ({hold.kind.value}: {hold.reason})" for hold_id, hold in held.items())
            raise OrderOnHold(f"order {self.order_id!r} is on hold: {names}", holds=sorted(held))

    # --- edits -------------------------------------------------------------------

    def add_units(
        self, wanted: Sequence[Wanted], plan: Mapping[str, Sequence[Allocation]], reason: str, meta: Meta
    ) -> tuple[AddedLine, ...]:
        """Add lines, or units to lines that have shipped nothing, held where ``plan`` says."""
        for sku, _, _, _ in wanted:
            line = self.lines.get(sku)
            if line is not None and line.shipped:
                raise AlreadyShipped(f"line {sku} has shipped units; it can no longer be edited")
        added = _allocated(self.priced(wanted), plan)
        self.trigger_event(self.LinesAdded, **meta.fields(), reason=_reason(reason), lines=added)
        return added

    def priced(self, wanted: Sequence[Wanted]) -> tuple[AddedLine, ...]:
        """Units priced as placing prices them: a new line by its own terms, more units of a line
        at its unit price and tax rates. Order discounts are not spread over added units."""
        priced = []
        skus = [sku for sku, _, _, _ in wanted]
        if not wanted or len(set(skus)) != len(skus):
            raise InvalidCommand("name each SKU once, and at least one")
        for sku, quantity, unit_price, given in wanted:
            require_positive(quantity, f"quantity of {sku}")
            line = self.lines.get(sku)
            terms = given or LineTerms()
            if line is not None:
                if unit_price != line.unit_price:
                    raise InvalidCommand(f"line {sku} is priced {line.unit_price}, not {unit_price}")
                terms = LineTerms(taxes=tuple(TaxRate(t.name, t.rate) for t in line.taxes))
            priced.append((sku, unit_price * quantity, terms))
        terms_given = any(t.discounts or t.taxes for _, _, t in priced)
        lines = price_lines(priced, (), self.prices_include_tax, self.currency) if terms_given else None
        return tuple(
            AddedLine(sku, quantity, unit_price, (), *(lines[i] if lines else ((), ())))
            for i, (sku, quantity, unit_price, _) in enumerate(wanted)
        )

    def change_quantity(
        self, sku: str, quantity: int, reason: str, plan: Mapping[str, Sequence[Allocation]], meta: Meta
    ) -> tuple[tuple[AddedLine, ...], tuple[CancelledLine, ...]]:
        """Set how many units of a line are ordered (those cancelled before left aside): more
        units are held like placed ones, fewer let go of like cancelled ones. Returns which."""
        line = self._edited(sku)
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
            raise InvalidCommand(f"quantity of {sku} must be zero or more, got {quantity!r}")
        active = line.quantity - line.cancelled
        if quantity == active:
            raise InvalidCommand(f"line {sku} has {active} units already")
        if quantity > active:
            return self.add_units([(sku, quantity - active, line.unit_price, None)], plan, reason, meta), ()
        others = sum(other.quantity - other.cancelled for other in self.lines.values() if other is not line)
        if quantity == 0 and others == 0:
            raise InvalidCommand("an order keeps at least one unit; cancel the order instead")
        return (), self.cancel(_reason(reason), {sku: active - quantity}, meta)

    def change_ship_to(self, personal_data: str | None, reason: str, meta: Meta) -> None:
        if not any(line.open_units for line in self.lines.values()):
            raise AlreadyShipped(f"order {self.order_id!r} has nothing left to ship")
        self.trigger_event(self.ShipToChanged, **meta.fields(), personal_data=personal_data, reason=_reason(reason))

    def change_promises(
        self, promised_ship_by: datetime | None, promised_delivery_by: datetime | None, reason: str, meta: Meta
    ) -> None:
        check_promises(promised_ship_by, promised_delivery_by)
        self.trigger_event(
            self.PromisesChanged,
            **meta.fields(),
            promised_ship_by=promised_ship_by,
            promised_delivery_by=promised_delivery_by,
            reason=_reason(reason),
        )

    def _line(self, sku: str) -> Line:
        line = self.lines.get(sku)
        if line is None:
            raise UnknownLine(f"order {self.order_id!r} has no line for SKU {sku!r}")
        return line

    def _edited(self, sku: str) -> Line:
        line = self._line(sku)
        if line.shipped or line.returned:
            raise AlreadyShipped(f"line {sku} has shipped units; it can no longer be edited")
        return line

    # --- return review -----------------------------------------------------------

    def returned(self, return_id: str) -> Return:
        found = self.returns.get(return_id)
        if found is None:
            raise ReturnNotFound(f"order {self.order_id!r} has no return {return_id!r}")
        return found

    def approved(self, return_id: str) -> Return:
        found = self.returned(return_id)
        if found.step is not ReturnStep.APPROVED:
            raise ReturnNotApproved(f"return {return_id!r} is {found.step.value}, not approved")
        return found

    def approve_return(
        self, return_id: str, plan: Mapping[str, Sequence[Allocation]], reason: str | None, meta: Meta
    ) -> tuple[AddedLine, ...]:
        """Approve a requested return; an exchange's replacements are held now, where ``plan`` says."""
        found = self._in_review(return_id)
        replacements = _allocated(found.replacements, plan)
        self.trigger_event(
            self.ReturnApproved, **meta.fields(), return_id=return_id, reason=reason, replacements=replacements
        )
        return replacements

    def decline_return(self, return_id: str, reason: str, meta: Meta) -> None:
        self._in_review(return_id)
        self.trigger_event(self.ReturnDeclined, **meta.fields(), return_id=return_id, reason=_reason(reason))

    def _in_review(self, return_id: str) -> Return:
        found = self.returned(return_id)
        if found.step is not ReturnStep.REQUESTED:
            raise InvalidTransition(f"return {return_id!r} is {found.step.value} already")
        return found

    # --- events ------------------------------------------------------------------

    class HoldPlaced(LedgerAggregate.Event):
        hold_id: str
        kind: str
        reason: str
        rule_id: str | None
        release: str

        def apply(self, aggregate: Any) -> None:
            aggregate.holds[self.hold_id] = OrderHold(
                HoldKind(self.kind),
                self.reason,
                self.actor,
                self.occurred_at,
                self.rule_id,
                HoldRelease(self.release),
            )

    class HoldReleased(LedgerAggregate.Event):
        hold_id: str
        reason: str
        automatic: bool

        def apply(self, aggregate: Any) -> None:
            hold = aggregate.holds[self.hold_id]
            aggregate.holds[self.hold_id] = replace(
                hold, released_at=self.occurred_at, released_by=self.actor, release_reason=self.reason
            )

    class LinesAdded(LedgerAggregate.Event):
        reason: str
        lines: Sequence[AddedLine]  # a tuple when recorded, a list when read back

        def apply(self, aggregate: Any) -> None:
            for added in self.lines:
                aggregate.lines[added.sku] = adding(aggregate.lines.get(added.sku), added)

    class ShipToChanged(LedgerAggregate.Event):
        personal_data: str | None  # sealed with the customer's key, as at placement
        reason: str

        def apply(self, aggregate: Any) -> None:
            aggregate.personal_data = self.personal_data

    class PromisesChanged(LedgerAggregate.Event):
        promised_ship_by: datetime | None
        promised_delivery_by: datetime | None
        reason: str

        def apply(self, aggregate: Any) -> None:
            aggregate.promised_ship_by = self.promised_ship_by
            aggregate.promised_delivery_by = self.promised_delivery_by

    class ReturnApproved(LedgerAggregate.Event):
        return_id: str
        reason: str | None
        replacements: Sequence[AddedLine]  # held where they were allocated

        def apply(self, aggregate: Any) -> None:
            found = aggregate.returns[self.return_id]
            replacements = records_of(self.replacements, AddedLine)
            aggregate.returns[self.return_id] = replace(
                found, step=ReturnStep.APPROVED, replacements=replacements, decision_reason=self.reason
            )
            for added in replacements:
                aggregate.lines[added.sku] = adding(aggregate.lines.get(added.sku), added)

    class ReturnDeclined(LedgerAggregate.Event):
        return_id: str
        reason: str

        def apply(self, aggregate: Any) -> None:
            found = aggregate.returns[self.return_id]
            aggregate.returns[self.return_id] = replace(found, step=ReturnStep.DECLINED, decision_reason=self.reason)
            for sku, state in found.lines.items():
                line = aggregate.lines[sku]
                aggregate.lines[sku] = line.changed(return_requested=-state.requested)


def _allocated(lines: Sequence[AddedLine], plan: Mapping[str, Sequence[Allocation]]) -> tuple[AddedLine, ...]:
    allocated = []
    for line in lines:
        allocations = tuple(plan.get(line.sku, ()))
        if sum(a.committed + a.backordered for a in allocations) != line.quantity:
            raise InvalidCommand(f"the sourcing plan for {line.sku} does not cover the units added")
        allocated.append(replace(line, allocations=allocations))
    return tuple(allocated)
