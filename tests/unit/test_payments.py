from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from domain import payments
from domain.errors import PaymentRejected
from domain.payments import PaymentKind

D = Decimal


def apply(ledger: payments.Payments, kind: PaymentKind, amount: str) -> payments.Payments:
    name, fields = payments.decide(ledger, kind, D(amount))
    key = {"PaymentAuthorized": "authorized", "PaymentCaptured": "captured", "PaymentVoided": "voided"}.get(
        name, "refunded"
    )
    after = replace(ledger, **{key: getattr(ledger, key) + fields["amount"]})
    return replace(after, authorized=after.authorized + fields.get("authorized", D(0)))


def test_capture_without_authorization_authorizes_and_captures() -> None:
    name, fields = payments.decide(payments.Payments(), PaymentKind.CAPTURE, D("10.00"))
    assert (name, fields) == ("PaymentCaptured", {"amount": D("10.00"), "authorized": D("10.00")})


def test_capture_within_an_authorization_authorizes_nothing_more() -> None:
    ledger = apply(payments.Payments(), PaymentKind.AUTHORIZATION, "10")
    _, fields = payments.decide(ledger, PaymentKind.CAPTURE, D("4"))
    assert fields["authorized"] == 0


def test_refund_cannot_exceed_what_was_captured() -> None:
    ledger = apply(payments.Payments(), PaymentKind.CAPTURE, "10")
    ledger = apply(ledger, PaymentKind.REFUND, "6")
    with pytest.raises(PaymentRejected):
        payments.decide(ledger, PaymentKind.REFUND, D("4.01"))


def test_void_releases_only_the_uncaptured_authorization() -> None:
    ledger = apply(payments.Payments(), PaymentKind.AUTHORIZATION, "10")
    ledger = apply(ledger, PaymentKind.CAPTURE, "7")
    with pytest.raises(PaymentRejected):
        payments.decide(ledger, PaymentKind.VOID, D("3.01"))
    ledger = apply(ledger, PaymentKind.VOID, "3")
    assert ledger.open_authorization == 0


@pytest.mark.parametrize(
    ("steps", "total", "status"),
    [
        ([], "10", "unpaid"),
        ([], "0", "paid"),
        ([(PaymentKind.AUTHORIZATION, "10")], "10", "authorized"),
        ([(PaymentKind.AUTHORIZATION, "10"), (PaymentKind.VOID, "10")], "10", "voided"),
        ([(PaymentKind.CAPTURE, "4")], "10", "partially_paid"),
        ([(PaymentKind.CAPTURE, "10")], "10", "paid"),
        ([(PaymentKind.CAPTURE, "10"), (PaymentKind.REFUND, "3")], "10", "partially_refunded"),
        ([(PaymentKind.CAPTURE, "10"), (PaymentKind.REFUND, "10")], "10", "refunded"),
    ],
)
def test_payment_status_is_derived_from_the_amounts(
    steps: list[tuple[PaymentKind, str]], total: str, status: str
) -> None:
    ledger = payments.Payments()
    for kind, amount in steps:
        ledger = apply(ledger, kind, amount)
    assert ledger.status(D(total)) == status
