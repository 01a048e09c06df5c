"""The payment sub-ledger of an order: authorized, captured, voided, refunded amounts.

Rules, each refusal naming its limit (``docs/domain.md``, Payments):

* authorized (less voids) never above the order's amount owed plus the tolerance
  (``authorization_exceeds_total``); a capture beyond the open authorization authorizes the
  difference at once (card-present and wallet payments arrive that way), so
  ``captured <= authorized - voided`` always;
* captured never above the amount owed plus the tolerance (``capture_exceeds_total``): on a
  cancelled order, that is what its shipped lines are worth;
* a void only releases authorization not yet captured (``void_exceeds_open_authorization``);
* refunded never above captured (``refund_exceeds_captured``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum
from typing import Any

from domain.errors import (
    AuthorizationExceedsTotal,
    CaptureExceedsTotal,
    RefundExceedsCaptured,
    VoidExceedsOpenAuthorization,
)

_ZERO = Decimal(0)


class PaymentKind(StrEnum):
    AUTHORIZATION = "authorization"
    CAPTURE = "capture"
    VOID = "void"
    REFUND = "refund"


@dataclass(frozen=True, slots=True)
class MoneyPolicy:
    """The shop's payment settings the rules take (``OMS_OVER_AUTHORIZATION_PERCENT``)."""

    # Authorized and captured may exceed the amount owed by this share of it (0: not at all).
    over_authorization_percent: Decimal = _ZERO


class PaymentStatus(StrEnum):
    UNPAID = "unpaid"
    AUTHORIZED = "authorized"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    VOIDED = "voided"


@dataclass(frozen=True, slots=True)
class Payments:
    authorized: Decimal = _ZERO
    captured: Decimal = _ZERO
    voided: Decimal = _ZERO
    refunded: Decimal = _ZERO

    @property
    def open_authorization(self) -> Decimal:
        return self.authorized - self.voided - self.captured

    def authorize(self, amount: Decimal) -> Payments:
        return replace(self, authorized=self.authorized + amount)

    def capture(self, amount: Decimal, also_authorized: Decimal) -> Payments:
        return replace(self, authorized=self.authorized + also_authorized, captured=self.captured + amount)

    def void(self, amount: Decimal) -> Payments:
        return replace(self, voided=self.voided + amount)

    def refund(self, amount: Decimal) -> Payments:
        return replace(self, refunded=self.refunded + amount)

    @property
    def kept(self) -> Decimal:
        """Captured and not refunded: what the customer has paid and still has paid."""
        return self.captured - self.refunded

    def status(self, owed: Decimal, total: Decimal, cancelled: bool) -> PaymentStatus:
        """Derived from the amounts (``owed``: the total less returns, plus fees). With no payment
        at all, only an order with nothing to pay is ``paid``: never a cancelled one, nor one
        whose units all came back."""
        if self.refunded > 0:
            return PaymentStatus.REFUNDED if self.refunded >= self.captured else PaymentStatus.PARTIALLY_REFUNDED
        if self.captured > 0:
            return PaymentStatus.PAID if self.captured >= owed else PaymentStatus.PARTIALLY_PAID
        if self.open_authorization > 0:
            return PaymentStatus.AUTHORIZED
        if self.voided > 0:
            return PaymentStatus.VOIDED
        return PaymentStatus.PAID if total == 0 and not cancelled else PaymentStatus.UNPAID


def decide(payments: Payments, kind: PaymentKind, amount: Decimal, limit: Decimal) -> tuple[str, dict[str, Any]]:
    """The event name and fields that record ``amount`` of ``kind``, if the rules allow it.

    ``limit`` is the order's amount owed plus the over-authorization tolerance."""
    if kind is PaymentKind.AUTHORIZATION:
        after = payments.authorized - payments.voided + amount
        if after > limit:
            raise AuthorizationExceedsTotal(
                f"authorizing {amount} would bring the authorization to {after}, above the limit {limit}",
                limit=str(limit),
                authorized=str(payments.authorized - payments.voided),
            )
        return "PaymentAuthorized", {"amount": amount}
    if kind is PaymentKind.CAPTURE:
        after = payments.captured + amount
        if after > limit:
            raise CaptureExceedsTotal(
                f"capturing {amount} would bring the captured amount to {after}, above the limit {limit}",
                limit=str(limit),
                captured=str(payments.captured),
            )
        also_authorized = max(amount - payments.open_authorization, _ZERO)
        return "PaymentCaptured", {"amount": amount, "authorized": also_authorized}
    if kind is PaymentKind.VOID:
        if amount > payments.open_authorization:
            raise VoidExceedsOpenAuthorization(
                f"only {payments.open_authorization} of the authorization is open to void",
                open_authorization=str(payments.open_authorization),
            )
        return "PaymentVoided", {"amount": amount}
    if amount > payments.kept:
        raise RefundExceedsCaptured(f"only {payments.kept} captured is left to refund", refundable=str(payments.kept))
    return "PaymentRefunded", {"amount": amount}
