"""Bodies of the order desk's commands: holds and hold rules, edits, and the review of returns."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, ClassVar, Self

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from api.schemas.common import (
    PRINTABLE_PATTERN,
    BusinessTime,
    CommandBody,
    Currency,
    Identifier,
    LedgerTime,
    Reference,
    Strict,
)
from api.schemas.money import Provider
from api.schemas.orders import Address, Channel, OrderLineBody
from commands import messages as m
from domain.order_records import HoldKind, HoldRelease

Reason = Annotated[
    str,
    StringConstraints(min_length=1, max_length=500, strip_whitespace=True, pattern=PRINTABLE_PATTERN),
    Field(description="Why: shown in the timeline beside who did it.", examples=["customer called"]),
]
NewQuantity = Annotated[int, Field(strict=True, ge=0, le=1_000_000_000, description="Units ordered from now on.")]
Limit = Annotated[Decimal, Field(ge=0, max_digits=18, allow_inf_nan=False, examples=["500.00"])]
RefundAmount = Annotated[Decimal, Field(gt=0, max_digits=18, allow_inf_nan=False, examples=["9.99"])]


def _examples(*examples: dict[str, object]) -> ConfigDict:
    return Strict.model_config | ConfigDict(json_schema_extra={"examples": list(examples)})  # type: ignore[arg-type]


class HoldBody(CommandBody):
    command: ClassVar[type[m.Command]] = m.PlaceHold
    model_config = _examples({"kind": "fraud", "reason": "billing and shipping countries differ"})

    hold_id: Identifier | None = None
    kind: HoldKind
    reason: Reason
    occurred_at: BusinessTime = None

    def to_command(self, order_id: str) -> m.PlaceHold:
        return m.PlaceHold(
            order_id=order_id, hold_id=self.hold_id, kind=self.kind, reason=self.reason, occurred_at=self.occurred_at
        )


class HoldReleaseBody(CommandBody):
    command: ClassVar[type[m.Command]] = m.ReleaseHold
    model_config = _examples({"reason": "customer verified by phone"})

    reason: Reason
    occurred_at: BusinessTime = None

    def to_command(self, order_id: str, hold_id: str) -> m.ReleaseHold:
        return m.ReleaseHold(order_id=order_id, hold_id=hold_id, reason=self.reason, occurred_at=self.occurred_at)


class HoldRuleBody(CommandBody):
    command: ClassVar[type[m.Command]] = m.SetHoldRule
    model_config = _examples(
        {"kind": "fraud", "reason": "review orders above 500", "above": "500.00", "currency": "GBP"},
        {"kind": "payment", "reason": "wait for payment", "unpaid": True, "release": "paid"},
    )

    kind: HoldKind
    reason: Reason
    above: Limit | None = Field(default=None, description="Hold orders whose total is above this (with currency).")
    currency: Currency | None = None
    channel: Channel | None = Field(default=None, description="Hold orders from this channel.")
    unpaid: bool = Field(default=False, description="Hold orders with something to pay.")
    release: HoldRelease = Field(default=HoldRelease.MANUAL, description="`paid`: the hold lets go once paid.")
    occurred_at: BusinessTime = None

    @model_validator(mode="after")
    def condition(self) -> Self:
        if self.above is None and self.channel is None and not self.unpaid:
            raise ValueError("a hold rule needs a condition: above (with currency), channel or unpaid")
        if (self.above is None) != (self.currency is None):
            raise ValueError("above and currency go together")
        return self

    def to_command(self, rule_id: str) -> m.SetHoldRule:
        return m.SetHoldRule(
            rule_id=rule_id,
            kind=self.kind,
            reason=self.reason,
            above=self.above,
            currency=self.currency,
            channel=self.channel,
            unpaid=self.unpaid,
            release=self.release,
            occurred_at=self.occurred_at,
        )


class HoldRuleRemovalBody(CommandBody):
    command: ClassVar[type[m.Command]] = m.RemoveHoldRule

    occurred_at: BusinessTime = None

    def to_command(self, rule_id: str) -> m.RemoveHoldRule:
        return m.RemoveHoldRule(rule_id=rule_id, occurred_at=self.occurred_at)


class AddLineBody(CommandBody):
    command: ClassVar[type[m.Command]] = m.AddOrderLine
    model_config = _examples(
        {"line": {"sku": "22423", "quantity": 1, "unit_price": "12.75"}, "reason": "added by phone"}
    )

    line: OrderLineBody
    reason: Reason
    occurred_at: BusinessTime = None

    def to_command(self, order_id: str) -> m.AddOrderLine:
        return m.AddOrderLine(
            order_id=order_id, line=self.line.to_line(), reason=self.reason, occurred_at=self.occurred_at
        )


class LineQuantityChangeBody(CommandBody):
    command: ClassVar[type[m.Command]] = m.ChangeLineQuantity
    model_config = _examples({"quantity": 4, "reason": "customer wants two more"})

    quantity: NewQuantity
    reason: Reason
    occurred_at: BusinessTime = None

    def to_command(self, order_id: str, sku: str) -> m.ChangeLineQuantity:
        return m.ChangeLineQuantity(
            order_id=order_id, sku=sku, quantity=self.quantity, reason=self.reason, occurred_at=self.occurred_at
        )


class LineRemovalBody(CommandBody):
    command: ClassVar[type[m.Command]] = m.RemoveOrderLine
    model_config = _examples({"reason": "out of season"})

    reason: Reason
    occurred_at: BusinessTime = None

    def to_command(self, order_id: str, sku: str) -> m.RemoveOrderLine:
        return m.RemoveOrderLine(order_id=order_id, sku=sku, reason=self.reason, occurred_at=self.occurred_at)


class ShipToBody(CommandBody):
    command: ClassVar[type[m.Command]] = m.ChangeShipTo

    ship_to: Address
    reason: Reason
    occurred_at: BusinessTime = None

    def to_command(self, order_id: str) -> m.ChangeShipTo:
        return m.ChangeShipTo(
            order_id=order_id,
            ship_to=self.ship_to.model_dump(exclude_none=True),
            reason=self.reason,
            occurred_at=self.occurred_at,
        )


class PromisedDatesBody(CommandBody):
    command: ClassVar[type[m.Command]] = m.ChangePromisedDates
    model_config = _examples({"promised_ship_by": "2026-03-04T17:00:00Z", "reason": "stock arrives on Wednesday"})

    promised_ship_by: LedgerTime | None = None
    promised_delivery_by: LedgerTime | None = None
    reason: Reason
    occurred_at: BusinessTime = None

    def to_command(self, order_id: str) -> m.ChangePromisedDates:
        return m.ChangePromisedDates(
            order_id=order_id,
            promised_ship_by=self.promised_ship_by,
            promised_delivery_by=self.promised_delivery_by,
            reason=self.reason,
            occurred_at=self.occurred_at,
        )


class ReturnApprovalBody(CommandBody):
    command: ClassVar[type[m.Command]] = m.ApproveReturn

    reason: Reason | None = None
    occurred_at: BusinessTime = None

    def to_command(self, order_id: str, return_id: str) -> m.ApproveReturn:
        return m.ApproveReturn(order_id=order_id, return_id=return_id, reason=self.reason, occurred_at=self.occurred_at)


class ReturnDeclineBody(CommandBody):
    command: ClassVar[type[m.Command]] = m.DeclineReturn
    model_config = _examples({"reason": "outside the 30-day window"})

    reason: Reason
    occurred_at: BusinessTime = None

    def to_command(self, order_id: str, return_id: str) -> m.DeclineReturn:
        return m.DeclineReturn(order_id=order_id, return_id=return_id, reason=self.reason, occurred_at=self.occurred_at)


class ReturnRefundBody(CommandBody):
    command: ClassVar[type[m.Command]] = m.RefundReturn
    model_config = _examples({}, {"amount": "5.00", "provider": "stripe", "reference": "re_3Mt"})

    amount: RefundAmount | None = Field(default=None, description="Default: what the return is owed.")
    reference: Reference | None = None
    provider: Provider | None = None
    occurred_at: BusinessTime = None

    def to_command(self, order_id: str, return_id: str) -> m.RefundReturn:
        return m.RefundReturn(
            order_id=order_id,
            return_id=return_id,
            amount=self.amount,
            reference=self.reference,
            provider=self.provider,
            occurred_at=self.occurred_at,
        )
