"""The payment sub-ledger of an order: authorized, captured, voided, refunded amounts.

Rules: ``refunded <= captured <= authorized - voided``. A capture beyond the open
authorization authorizes the difference at once (card-present and wallet payments
arrive that way); a void only releases authorization not yet captured.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum
from typing import Any

from domain.errors import PaymentRejected

_ZERO = Decimal(0)


class PaymentKind(StrEnum):
    AUTHORIZATION = "authorization"
    CAPTURE = "capture"
    VOID = "void"
    REFUND = "refund"


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

    def status(self, total: Decimal) -> PaymentStatus:
        if self.refunded > 0:
            return PaymentStatus.REFUNDED if self.refunded >= self.captured else PaymentStatus.PARTIALLY_REFUNDED
        if self.captured > 0:
            return PaymentStatus.PAID if self.captured >= total else PaymentStatus.PARTIALLY_PAID
        if self.open_authorization > 0:
            return PaymentStatus.AUTHORIZED
        if self.voided > 0:
            return PaymentStatus.VOIDED
        return PaymentStatus.PAID if total == 0 else PaymentStatus.UNPAID


def decide(payments: Payments, kind: PaymentKind, amount: Decimal) -> tuple[str, dict[str, Any]]:
    """The event name and fields that record ``amount`` of ``kind``, if the rules allow it."""
    if kind is PaymentKind.AUTHORIZATION:
        return "PaymentAuthorized", {"amount": amount}
    if kind is PaymentKind.CAPTURE:
        also_authorized = max(amount - payments.open_authorization, _ZERO)
        return "PaymentCaptured", {"amount": amount, "authorized": also_authorized}
    if kind is PaymentKind.VOID:
        if amount > payments.open_authorization:
            raise PaymentRejected(f"only {payments.open_authorization} of the authorization is open to void")
        return "PaymentVoided", {"amount": amount}
    refundable = payments.captured - payments.refunded
    if amount > refundable:
        raise PaymentRejected(f"only {refundable} captured is left to refund")
    return "PaymentRefunded", {"amount": amount}
