"""The payment sub-ledger of an order: authorized, captured, voided, refunded amounts.

Rules: ``refunded <= captured <= authorized - voided``. A capture beyond the open
authorization authorizes the difference at once (card-present and wallet payments
arrive that way); a void only releases authorization not yet captured.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Any

from domain.errors import PaymentRejected

Payments = dict[str, Decimal]


class PaymentKind(StrEnum):
    AUTHORIZATION = "authorization"
    CAPTURE = "capture"
    VOID = "void"
    REFUND = "refund"


def empty() -> Payments:
    zero = Decimal(0)
    return {"authorized": zero, "captured": zero, "voided": zero, "refunded": zero}


def open_authorization(payments: Payments) -> Decimal:
    return payments["authorized"] - payments["voided"] - payments["captured"]


def decide(payments: Payments, kind: PaymentKind, amount: Decimal) -> tuple[str, dict[str, Any]]:
    """The event name and fields that record ``amount`` of ``kind``, if the rules allow it."""
    if kind is PaymentKind.AUTHORIZATION:
        return "PaymentAuthorized", {"amount": amount}
    if kind is PaymentKind.CAPTURE:
        also_authorized = max(amount - open_authorization(payments), Decimal(0))
        return "PaymentCaptured", {"amount": amount, "authorized": also_authorized}
    if kind is PaymentKind.VOID:
        if amount > open_authorization(payments):
            raise PaymentRejected(f"only {open_authorization(payments)} of the authorization is open to void")
        return "PaymentVoided", {"amount": amount}
    refundable = payments["captured"] - payments["refunded"]
    if amount > refundable:
        raise PaymentRejected(f"only {refundable} captured is left to refund")
    return "PaymentRefunded", {"amount": amount}


def status(payments: Payments, total: Decimal) -> str:
    if payments["refunded"] > 0:
        return "refunded" if payments["refunded"] >= payments["captured"] else "partially_refunded"
    if payments["captured"] > 0:
        return "paid" if payments["captured"] >= total else "partially_paid"
    if open_authorization(payments) > 0:
        return "authorized"
    if payments["voided"] > 0:
        return "voided"
    return "paid" if total == 0 else "unpaid"
