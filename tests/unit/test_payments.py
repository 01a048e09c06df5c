"""The payment rules: each limit refuses with its own code, and the status follows the amounts."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from domain import payments
from domain.errors import (
    AuthorizationExceedsTotal,
    CaptureExceedsTotal,
    PaymentRejected,
    RefundExceedsCaptured,
    VoidExceedsOpenAuthorization,
)
from domain.payments import PaymentKind

D = Decimal
LIMIT = D("10")


def apply(ledger: payments.Payments, kind: PaymentKind, amount: str, limit: Decimal = LIMIT) -> payments.Payments:
    name, fields = payments.decide(ledger, kind, D(amount), limit)
    key = {"PaymentAuthorized": "authorized", "PaymentCaptured": "captured", "PaymentVoided": "voided"}.get(
        name, "refunded"
    )
    after = replace(ledger, **{key: getattr(ledger, key) + fields["amount"]})
    return replace(after, authorized=after.authorized + fields.get("authorized", D(0)))


def test_capture_without_authorization_authorizes_and_captures() -> None:
    name, fields = payments.decide(payments.Payments(), PaymentKind.CAPTURE, D("10.00"), LIMIT)
    assert (name, fields) == ("PaymentCaptured", {"amount": D("10.00"), "authorized": D("10.00")})


def test_capture_within_an_authorization_authorizes_nothing_more() -> None:
    ledger = apply(payments.Payments(), PaymentKind.AUTHORIZATION, "10")
    _, fields = payments.decide(ledger, PaymentKind.CAPTURE, D("4"), LIMIT)
    assert fields["authorized"] == 0


def test_authorization_stops_at_the_limit() -> None:
    ledger = apply(payments.Payments(), PaymentKind.AUTHORIZATION, "6")
    with pytest.raises(AuthorizationExceedsTotal) as refused:
        payments.decide(ledger, PaymentKind.AUTHORIZATION, D("4.01"), LIMIT)
    assert refused.value.code == "authorization_exceeds_total" and refused.value.extra["limit"] == "10"
    # A void gives the room back.
    ledger = apply(ledger, PaymentKind.VOID, "6")
    assert apply(ledger, PaymentKind.AUTHORIZATION, "10").open_authorization == 10


def test_capture_stops_at_the_limit_even_with_an_open_authorization() -> None:
    ledger = apply(payments.Payments(), PaymentKind.AUTHORIZATION, "10")
    ledger = apply(ledger, PaymentKind.CAPTURE, "10")
    with pytest.raises(CaptureExceedsTotal):
        payments.decide(ledger, PaymentKind.CAPTURE, D("0.01"), LIMIT)
    with pytest.raises(CaptureExceedsTotal):
        payments.decide(payments.Payments(), PaymentKind.CAPTURE, D("1000.00"), LIMIT)


def test_refund_cannot_exceed_what_was_captured() -> None:
    ledger = apply(payments.Payments(), PaymentKind.CAPTURE, "10")
    ledger = apply(ledger, PaymentKind.REFUND, "6")
    with pytest.raises(RefundExceedsCaptured):
        payments.decide(ledger, PaymentKind.REFUND, D("4.01"), LIMIT)
    with pytest.raises(RefundExceedsCaptured):
        payments.decide(payments.Payments(), PaymentKind.REFUND, D("500.00"), LIMIT)


def test_void_releases_only_the_uncaptured_authorization() -> None:
    ledger = apply(payments.Payments(), PaymentKind.AUTHORIZATION, "10")
    ledger = apply(ledger, PaymentKind.CAPTURE, "7")
    with pytest.raises(VoidExceedsOpenAuthorization):
        payments.decide(ledger, PaymentKind.VOID, D("3.01"), LIMIT)
    ledger = apply(ledger, PaymentKind.VOID, "3")
    assert ledger.open_authorization == 0


def test_every_limit_is_a_payment_rejection() -> None:
    for kind in (AuthorizationExceedsTotal, CaptureExceedsTotal, VoidExceedsOpenAuthorization, RefundExceedsCaptured):
        assert issubclass(kind, PaymentRejected)
    codes = {k.code for k in PaymentRejected.__subclasses__()}
    assert len(codes) == len(PaymentRejected.__subclasses__())


@pytest.mark.parametrize(
    ("steps", "total", "cancelled", "status"),
    [
        ([], "10", False, "unpaid"),
        ([], "0", False, "paid"),
        ([], "0", True, "unpaid"),
        ([(PaymentKind.AUTHORIZATION, "10"), (PaymentKind.VOID, "10")], "0", True, "voided"),
        ([(PaymentKind.AUTHORIZATION, "10")], "10", False, "authorized"),
        ([(PaymentKind.AUTHORIZATION, "10"), (PaymentKind.VOID, "10")], "10", False, "voided"),
        ([(PaymentKind.CAPTURE, "4")], "10", False, "partially_paid"),
        ([(PaymentKind.CAPTURE, "10")], "10", False, "paid"),
        ([(PaymentKind.CAPTURE, "10"), (PaymentKind.REFUND, "3")], "10", False, "partially_refunded"),
        ([(PaymentKind.CAPTURE, "10"), (PaymentKind.REFUND, "10")], "10", False, "refunded"),
    ],
)
def test_payment_status_is_derived_from_the_amounts(
    steps: list[tuple[PaymentKind, str]], total: str, cancelled: bool, status: str
) -> None:
    ledger = payments.Payments()
    for kind, amount in steps:
        ledger = apply(ledger, kind, amount)
    assert ledger.status(D(total), D(total), cancelled) == status
