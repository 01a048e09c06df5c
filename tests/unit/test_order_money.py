"""An order's money through its commands: price terms, limits, voids and refunds on cancel, and
refunds computed from returned units. The figures are worked by hand in the comments."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commands import messages as m
from commands.ledger import Ledger
from domain.errors import (
    AuthorizationExceedsTotal,
    CaptureExceedsTotal,
    InvalidCommand,
    RefundExceedsCaptured,
    RefundExceedsReturn,
)
from domain.payments import MoneyPolicy, PaymentKind
from domain.pricing import Discount, ShippingTerms, TaxRate
from domain.stock import Disposition
from tests.helpers import execute, memory_ledger, order, pipeline_of, receive, register

D = Decimal
VAT = (TaxRate("VAT", D("0.2")),)


@pytest.fixture
def stocked(ledger: Ledger) -> Ledger:
    register(ledger, "main", priority=1)
    receive(ledger, "A", "main", 10)
    receive(ledger, "B", "main", 10)
    return ledger


def place_priced(ledger: Ledger, order_id: str = "o1", **fields: object) -> None:
    """A 3 x 10.00 less LINE3 3.00, B 2 x 5.00, ORDER7 7.00 over both, 20% VAT, shipping 4.99 + VAT.

    ORDER7 splits over 27.00 and 10.00 by largest remainder: 5.11 and 1.89. VAT: A (30 - 8.11)
    x 0.2 = 4.378 -> 4.38; B (10 - 1.89) x 0.2 = 1.622 -> 1.62; shipping 4.99 x 0.2 -> 1.00.
    Total: 40.00 - 10.00 + 4.99 + 7.00 = 41.99."""
    execute(
        ledger,
        m.PlaceOrder(
            order_id=order_id,
            channel="web",
            customer_id="c1",
            currency="GBP",
            lines=(
                m.OrderLine(
                    sku="A", quantity=3, unit_price=D("10.00"), discounts=(Discount("LINE3", D("3.00")),), taxes=VAT
                ),
                m.OrderLine(sku="B", quantity=2, unit_price=D("5.00"), taxes=VAT),
            ),
            discounts=(Discount("ORDER7", D("7.00")),),
            shipping=(ShippingTerms("standard", D("4.99"), taxes=VAT),),
            **fields,  # type: ignore[arg-type]
        ),
    )


def pay(ledger: Ledger, kind: PaymentKind, amount: str, **fields: object) -> None:
    execute(ledger, m.RecordPayment(order_id="o1", kind=kind, amount=D(amount), **fields))  # type: ignore[arg-type]


def test_an_order_states_subtotal_discounts_shipping_tax_and_total(stocked: Ledger) -> None:
    place_priced(stocked)
    o = order(stocked, "o1")
    figures = o.money.figures()
    assert {k: figures[k] for k in ("subtotal", "discounts", "shipping", "tax", "total")} == {
        "subtotal": D("40.00"),
        "discounts": D("10.00"),
        "shipping": D("4.99"),
        "tax": D("7.00"),
        "total": D("41.99"),
    }
    assert [d.amount for d in o.lines["A"].discounts] == [D("3.00"), D("5.11")]
    assert o.payment_status == "unpaid" and o.money.balance_due == D("41.99")


def test_limits_refuse_over_authorization_over_capture_and_over_refund(stocked: Ledger) -> None:
    place_priced(stocked)
    with pytest.raises(AuthorizationExceedsTotal):
        pay(stocked, PaymentKind.AUTHORIZATION, "42.00")
    with pytest.raises(CaptureExceedsTotal):
        pay(stocked, PaymentKind.CAPTURE, "1000.00")
    with pytest.raises(RefundExceedsCaptured):
        pay(stocked, PaymentKind.REFUND, "500.00")
    assert order(stocked, "o1").version == 1  # nothing written


def test_the_over_authorization_tolerance_is_a_setting(stocked: Ledger) -> None:
    place_priced(stocked)
    pipeline_of(stocked, money=MoneyPolicy(D(10)))
    pay(stocked, PaymentKind.AUTHORIZATION, "46.19")  # 41.99 + 4.199 -> 4.20
    with pytest.raises(AuthorizationExceedsTotal):
        pay(stocked, PaymentKind.AUTHORIZATION, "0.01")


def test_cancelling_voids_the_authorization_no_longer_needed(stocked: Ledger) -> None:
    place_priced(stocked)
    pay(stocked, PaymentKind.AUTHORIZATION, "41.99")
    pay(stocked, PaymentKind.CAPTURE, "20.00")
    # One of three A: 10.00 - 2.70 (8.11 / 3) + 1.46 (4.38 / 3) = 8.76 comes off: owed 33.23.
    result = execute(
        stocked, m.CancelOrder(order_id="o1", reason="short", lines=(m.LineQuantity(sku="A", quantity=1),))
    )
    o = order(stocked, "o1")
    assert o.total == D("33.23") and result.extra["voided"] == "8.76"
    assert o.payments.open_authorization == D("13.23")
    with pytest.raises(CaptureExceedsTotal):
        pay(stocked, PaymentKind.CAPTURE, "13.24")
    pay(stocked, PaymentKind.CAPTURE, "13.23")
    assert order(stocked, "o1").payment_status == "paid"


def test_cancelling_a_paid_order_with_refund_refunds_in_the_same_command(stocked: Ledger) -> None:
    place_priced(stocked)
    pay(stocked, PaymentKind.CAPTURE, "41.99", provider="stripe", reference="ch_1")
    result = execute(stocked, m.CancelOrder(order_id="o1", reason="customer", refund=True, reference="re_1"))
    o = order(stocked, "o1")
    assert (o.total, o.payments.refunded, result.extra["refunded"]) == (D("0.00"), D("41.99"), "41.99")
    assert o.payment_status == "refunded" and o.money.balance == 0


def test_an_order_cancelled_before_payment_is_never_paid(stocked: Ledger) -> None:
    place_priced(stocked)
    execute(stocked, m.CancelOrder(order_id="o1", reason="customer"))
    assert order(stocked, "o1").payment_status == "unpaid"
    place_priced(stocked, order_id="o2")
    execute(stocked, m.RecordPayment(order_id="o2", kind=PaymentKind.AUTHORIZATION, amount=D("41.99")))
    execute(stocked, m.CancelOrder(order_id="o2", reason="customer"))
    o2 = order(stocked, "o2")
    assert (o2.payment_status, o2.payments.voided) == ("voided", D("41.99"))


def test_a_return_refunds_its_units_share_of_discounts_tax_and_shipping_less_a_fee(stocked: Ledger) -> None:
    place_priced(stocked)
    pay(stocked, PaymentKind.CAPTURE, "41.99")
    execute(stocked, m.ShipOrder(order_id="o1", shipment_id="s1"))
    execute(
        stocked, m.RequestReturn(order_id="o1", return_id="r1", lines=(m.ReturnLine(sku="B", quantity=1, reason="x"),))
    )
    # One of two B: 5.00 - 0.95 (1.89 / 2) + 0.81 (1.62 / 2) = 4.86; one of the five units kept
    # takes 1.00 (4.99 / 5) + 0.20 of the shipping: 6.06 credited, 5.56 refunded after the 0.50 fee.
    result = execute(
        stocked,
        m.ReceiveReturn(
            order_id="o1",
            return_id="r1",
            location_id="main",
            lines=(m.ReturnReceiptLine(sku="B", quantity=1, disposition=Disposition.RESTOCK),),
            restocking_fee=D("0.50"),
            refund_shipping=True,
            refund=True,
            provider="stripe",
            reference="re_2",
        ),
    )
    assert (result.extra["credited"], result.extra["refunded"]) == ("5.56", "5.56")
    o = order(stocked, "o1")
    assert (o.money.returns, o.money.fees, o.money.owed) == (D("6.06"), D("0.50"), D("36.43"))
    assert o.money.balance == 0 and o.payment_status == "partially_refunded"
    assert o.returns["r1"].refund_due == 0
    with pytest.raises(RefundExceedsReturn):
        pay(stocked, PaymentKind.REFUND, "0.01", return_id="r1")


def test_a_fee_above_the_credit_is_refused(stocked: Ledger) -> None:
    place_priced(stocked)
    execute(stocked, m.ShipOrder(order_id="o1", shipment_id="s1"))
    execute(
        stocked, m.RequestReturn(order_id="o1", return_id="r1", lines=(m.ReturnLine(sku="B", quantity=1, reason="x"),))
    )
    with pytest.raises(InvalidCommand):
        execute(
            stocked,
            m.ReceiveReturn(
                order_id="o1",
                return_id="r1",
                location_id="main",
                lines=(m.ReturnReceiptLine(sku="B", quantity=1, disposition=Disposition.RESTOCK),),
                restocking_fee=D("4.87"),
            ),
        )


def test_tax_inclusive_prices_keep_the_total_and_take_the_tax_out(stocked: Ledger) -> None:
    execute(
        stocked,
        m.PlaceOrder(
            order_id="o1",
            channel="web",
            customer_id="c1",
            currency="JPY",
            prices_include_tax=True,
            lines=(m.OrderLine(sku="A", quantity=3, unit_price=D("1100"), taxes=(TaxRate("JCT", D("0.1")),)),),
            discounts=(Discount("WELCOME", D("100")),),
        ),
    )
    money = order(stocked, "o1").money
    # 3300 - 100 = 3200 including 10%: 3200 x 0.1 / 1.1 = 290.9 -> 291 of tax.
    assert (money.total, money.tax, money.net_sales) == (D("3200"), D("291"), D("2909"))


@settings(max_examples=60, deadline=None)
@given(
    price=st.integers(1, 10_000),
    quantity=st.integers(2, 7),
    discount=st.integers(0, 100),
    rate=st.sampled_from(["0.2", "0.175", "0.05"]),
    steps=st.lists(st.integers(1, 3), min_size=1, max_size=7),
)
def test_units_taken_off_in_any_steps_take_exactly_the_line(
    price: int, quantity: int, discount: int, rate: str, steps: list[int]
) -> None:
    """Cancelling some units and shipping and returning the rest, in any steps: the parts taken
    sum to the line's price, discount and tax exactly, and nothing is left owed."""
    ledger = memory_ledger()
    register(ledger, "main")
    receive(ledger, "A", "main", 100)
    gross = D(price) / 100 * quantity
    execute(
        ledger,
        m.PlaceOrder(
            order_id="o1",
            channel="web",
            customer_id="c1",
            currency="GBP",
            lines=(
                m.OrderLine(
                    sku="A",
                    quantity=quantity,
                    unit_price=D(price) / 100,
                    discounts=(Discount("D", (gross * discount / 100).quantize(D("0.01"))),),
                    taxes=(TaxRate("VAT", D(rate)),),
                ),
            ),
        ),
    )
    left = quantity
    for step in steps[:-1]:
        take = min(step, left - 1)
        if take <= 0:
            break
        execute(ledger, m.CancelOrder(order_id="o1", reason="r", lines=(m.LineQuantity(sku="A", quantity=take),)))
        left -= take
    execute(ledger, m.ShipOrder(order_id="o1", shipment_id="s1"))
    returned = 0
    for n, step in enumerate(steps):
        size = left - returned if n == len(steps) - 1 else min(step, left - returned)
        if size <= 0:
            break
        rid = f"r{n}"
        execute(
            ledger,
            m.RequestReturn(order_id="o1", return_id=rid, lines=(m.ReturnLine(sku="A", quantity=size, reason="x"),)),
        )
        execute(
            ledger,
            m.ReceiveReturn(
                order_id="o1",
                return_id=rid,
                location_id="main",
                lines=(m.ReturnReceiptLine(sku="A", quantity=size, disposition=Disposition.RESTOCK),),
            ),
        )
        returned += size
    line = order(ledger, "o1").lines["A"]
    assert line.cancelled_amounts + line.returned_amounts == line.amounts
    assert order(ledger, "o1").money.owed == 0
