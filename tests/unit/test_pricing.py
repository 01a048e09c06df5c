"""Pricing: allocation by largest remainder, taking units off a line, taxes, rounding."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidCommand
from domain.pricing import (
    Amounts,
    Discount,
    LineTerms,
    ShippingTerms,
    TaxRate,
    allocate,
    price_lines,
    price_shipping,
    round_money,
    take,
)

D = Decimal


def test_a_cent_split_three_ways_goes_to_the_first_line() -> None:
    assert allocate(D("0.01"), [D(1), D(1), D(1)], "GBP") == [D("0.01"), D("0.00"), D("0.00")]
    assert allocate(D("0.02"), [D(1), D(1), D(1)], "GBP") == [D("0.01"), D("0.01"), D("0.00")]


def test_largest_remainder_wins_the_left_over_units() -> None:
    # 10.00 over 1:2 = 3.333.. and 6.666..: the second has the larger remainder.
    assert allocate(D("10.00"), [D(1), D(2)], "EUR") == [D("3.33"), D("6.67")]


def test_zero_and_three_decimal_currencies_allocate_whole_minor_units() -> None:
    assert allocate(D("100"), [D(1), D(1), D(1)], "JPY") == [D(34), D(33), D(33)]
    assert allocate(D("1.000"), [D(1), D(1), D(1)], "KWD") == [D("0.334"), D("0.333"), D("0.333")]


def test_rounding_is_half_away_from_zero_in_minor_units() -> None:
    assert round_money(D("0.005"), "GBP") == D("0.01")
    assert round_money(D("0.0049"), "GBP") == D("0.00")
    assert round_money(D("-0.005"), "GBP") == D("-0.01")
    assert round_money(D("2.5"), "JPY") == D(3)
    assert round_money(D("0.0005"), "BHD") == D("0.001")


def test_taking_units_leaves_the_remainder_to_the_last_ones() -> None:
    remaining, units, parts = D("10.00"), 3, []
    for _ in range(3):
        part = take(remaining, 1, units, "GBP")
        parts.append(part)
        remaining, units = remaining - part, units - 1
    assert parts == [D("3.33"), D("3.34"), D("3.33")] and sum(parts) == D("10.00")


@given(
    amount=st.integers(0, 10**9),
    weights=st.lists(st.integers(0, 10**6), min_size=1, max_size=12).filter(lambda w: sum(w) > 0),
    currency=st.sampled_from(["GBP", "JPY", "KWD"]),
)
def test_allocations_sum_exactly_and_follow_the_weights(amount: int, weights: list[int], currency: str) -> None:
    q = D(1).scaleb(-{"GBP": 2, "JPY": 0, "KWD": 3}[currency])
    total = D(amount) * q
    parts = allocate(total, [D(w) for w in weights], currency)
    assert sum(parts) == total
    for part, weight in zip(parts, weights, strict=True):
        exact = total * D(weight) / D(sum(weights))
        assert abs(part - exact) < q
        assert part == part.quantize(q)


@given(
    amount=st.integers(0, 10**7),
    steps=st.lists(st.integers(1, 5), min_size=1, max_size=10),
)
def test_taking_every_unit_in_any_steps_takes_the_whole_amount(amount: int, steps: list[int]) -> None:
    total, units = D(amount) / 100, sum(steps)
    remaining, left = total, units
    for k in steps:
        part = take(remaining, k, left, "GBP")
        assert D(0) <= part <= remaining
        remaining, left = remaining - part, left - k
    assert remaining == 0 and left == 0


def test_order_discounts_are_allocated_over_what_the_lines_are_worth_after_their_own() -> None:
    priced = price_lines(
        [
            ("A", D("30.00"), LineTerms(discounts=(Discount("LINE5", D("5.00")),))),
            ("B", D("25.00"), LineTerms()),
        ],
        [Discount("ORDER10", D("10.00"))],
        False,
        "GBP",
    )
    a, b = (discounts for discounts, _ in priced)
    assert a == (Discount("LINE5", D("5.00")), Discount("ORDER10", D("5.00"), order_level=True))
    assert b == (Discount("ORDER10", D("5.00"), order_level=True),)


def test_a_full_discount_leaves_nothing_and_no_tax() -> None:
    priced = price_lines(
        [("A", D("9.99"), LineTerms(taxes=(TaxRate("VAT", D("0.2")),))), ("B", D("0.01"), LineTerms())],
        [Discount("FREE", D("10.00"))],
        False,
        "GBP",
    )
    assert [sum(d.amount for d in discounts) for discounts, _ in priced] == [D("9.99"), D("0.01")]
    assert priced[0][1][0].amount == D("0.00")
    with pytest.raises(InvalidCommand):
        price_lines([("A", D("1.00"), LineTerms())], [Discount("TOO_MUCH", D("1.01"))], False, "GBP")
    with pytest.raises(InvalidCommand):
        price_lines([("A", D("1.00"), LineTerms(discounts=(Discount("X", D("1.01")),)))], [], False, "GBP")


def test_taxes_from_rates_exclusive_and_inclusive() -> None:
    ((_, exclusive),) = price_lines([("A", D("10.00"), LineTerms(taxes=(TaxRate("VAT", D("0.2")),)))], [], False, "GBP")
    assert exclusive[0].amount == D("2.00")
    # 12.00 including 20% VAT holds 2.00 of tax; with two rates each takes its share of the whole.
    ((_, inclusive),) = price_lines([("A", D("12.00"), LineTerms(taxes=(TaxRate("VAT", D("0.2")),)))], [], True, "GBP")
    assert inclusive[0].amount == D("2.00")
    ((_, two),) = price_lines(
        [("A", D("11.50"), LineTerms(taxes=(TaxRate("state", D("0.1")), TaxRate("city", D("0.05")))))],
        [],
        True,
        "USD",
    )
    assert [t.amount for t in two] == [D("1.00"), D("0.50")]
    # An amount sent is kept as sent.
    ((_, sent),) = price_lines(
        [("A", D("10.00"), LineTerms(taxes=(TaxRate("VAT", D("0.2"), D("1.99")),)))], [], False, "GBP"
    )
    assert sent[0].amount == D("1.99")
    with pytest.raises(InvalidCommand):
        price_lines([("A", D("1.00"), LineTerms(taxes=(TaxRate("VAT", D("1.5")),)))], [], False, "GBP")
    with pytest.raises(InvalidCommand):
        price_lines([("A", D("1.00"), LineTerms(taxes=(TaxRate("VAT", D("0.2"), D("0.001")),)))], [], False, "GBP")


def test_shipping_carries_its_own_fee_discount_and_tax() -> None:
    line = price_shipping(ShippingTerms("standard", D("4.99"), D("1.00"), (TaxRate("VAT", D("0.2")),)), False, "GBP")
    assert line.amounts() == Amounts(D("4.99"), D("1.00"), D("0.80"))
    assert line.amounts().total(False) == D("4.79")
    with pytest.raises(InvalidCommand):
        price_shipping(ShippingTerms("standard", D("1.00"), D("2.00")), False, "GBP")
