from __future__ import annotations

from decimal import Decimal

import pytest

from domain.errors import InvalidCommand
from domain.money import check_amount, check_currency, minor_units


def test_minor_units_follow_iso_4217() -> None:
    assert (minor_units("GBP"), minor_units("JPY"), minor_units("KWD")) == (2, 0, 3)


@pytest.mark.parametrize("code", ["gbp", "XXX", "EURO", ""])
def test_unknown_currencies_are_refused(code: str) -> None:
    with pytest.raises(InvalidCommand):
        check_currency(code)


@pytest.mark.parametrize(
    ("amount", "currency"), [("1.001", "GBP"), ("1.5", "JPY"), ("-1", "GBP"), ("0", "GBP"), ("NaN", "GBP")]
)
def test_bad_amounts_are_refused(amount: str, currency: str) -> None:
    with pytest.raises(InvalidCommand):
        check_amount(Decimal(amount), currency)


def test_trailing_zeros_do_not_count_as_decimals() -> None:
    assert check_amount(Decimal("1.500"), "GBP") == Decimal("1.500")
    assert check_amount(Decimal("0"), "GBP", allow_zero=True) == 0
