"""Money: Decimal amounts in an ISO 4217 currency, never floats."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from domain.errors import InvalidCommand

# Active ISO 4217 codes with their minor units; absent codes default to two decimals.
_MINOR_UNITS_EXCEPTIONS = {
    **dict.fromkeys("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split(), 0),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
    **dict.fromkeys("CLF UYW".split(), 4),
}
CURRENCIES = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD
    BTN BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD
    EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD
    IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL
    MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN
    PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN
    SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES
    VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
    """.split()
)


def minor_units(currency: str) -> int:
    return _MINOR_UNITS_EXCEPTIONS.get(currency, 2)


def check_currency(currency: str) -> str:
    if currency not in CURRENCIES:
        raise InvalidCommand(f"{currency!r} is not an ISO 4217 currency code")
    return currency


def check_amount(
    amount: Decimal, currency: str, *, allow_zero: bool = False, what: str | Callable[[], str] = "amount"
) -> Decimal:
    """A finite, non-negative amount with no more decimals than the currency has.

    ``what`` names it in a refusal; a function makes that name only when there is one (an order's
    price terms check a dozen amounts, nearly always good)."""
    if isinstance(amount, Decimal):
        exponent = amount.as_tuple().exponent
        in_units = isinstance(exponent, int) and -exponent <= minor_units(currency)
        if in_units and (amount > 0 or (allow_zero and amount == 0)):
            return amount
    if callable(what):
        what = what()
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise InvalidCommand(f"{what} must be a finite decimal, got {amount!r}")
    if amount < 0 or (amount == 0 and not allow_zero):
        raise InvalidCommand(f"{what} must be {'non-negative' if allow_zero else 'positive'}, got {amount}")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > minor_units(currency):
        # Trailing zeros do not count (1.250 GBP is fine); only then is it worth normalizing.
        exponent = amount.normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent > minor_units(currency):
            raise InvalidCommand(f"{what} {amount} has more decimals than {currency} allows ({minor_units(currency)})")
    return amount
