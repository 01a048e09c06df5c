"""Prices: discounts, taxes and shipping, and the two ways an amount is split.

Every amount is a ``Decimal`` in the currency's minor units (``domain.money``). Two rules
make every split exact, so parts always sum to the whole:

* **Allocation** (an order discount over its lines): largest remainder in minor units. Each
  line gets ``floor(amount x weight / total weight)``; the minor units left go one each to
  the lines with the largest remainders, the first line first on a tie.
* **Taking units off a line** (cancellation, return): the units leaving take
  ``round_half_up(remaining amount x units / remaining units)``, and the last units take
  whatever remains. Each part is recorded in the event that takes it.

Taxes the shop front sends with an amount are kept as sent; a tax sent with a rate alone is
``round_half_up(base x rate)`` on tax-exclusive prices and
``round_half_up(base x rate / (1 + sum of the line's rates))`` on tax-inclusive ones, where
the base is the line's price after its discounts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Context, Decimal

from domain.errors import InvalidCommand
from domain.money import check_amount, minor_units

ZERO = Decimal(0)


# Wide enough that a quotient of amounts (at most 18 digits) by the small numbers they are divided
# by (units, 1 + a sum of rates of 12 digits) never lands on the wrong side of a half minor unit:
# such a quotient is either exactly on the half or at least 1e-13 minor units away from it.
_EXACT = Context(prec=80, rounding=ROUND_HALF_EVEN)
_QUANTA: dict[str, Decimal] = {}


def quantum(currency: str) -> Decimal:
    found = _QUANTA.get(currency)
    if found is None:
        found = _QUANTA[currency] = Decimal(1).scaleb(-minor_units(currency))
    return found


def round_money(value: Decimal, currency: str) -> Decimal:
    """``value`` to the currency's minor unit, half away from zero."""
    return value.quantize(quantum(currency), rounding=ROUND_HALF_UP, context=_EXACT)


def ratio(value: Decimal, numerator: Decimal | int, denominator: Decimal | int) -> Decimal:
    """``value x numerator / denominator``, to 80 digits."""
    return _EXACT.divide(_EXACT.multiply(value, Decimal(numerator)), Decimal(denominator))


def allocate(amount: Decimal, weights: Sequence[Decimal], currency: str) -> list[Decimal]:
    """``amount`` split in proportion to ``weights`` by largest remainder: the parts sum to it."""
    if amount == 0:
        return [ZERO for _ in weights]
    total = sum(weights, ZERO)
    if total <= 0:
        raise InvalidCommand(f"nothing to allocate {amount} over")
    # In whole numbers: minor units of the amount, and the weights scaled to integers alike
    # (weights are amounts in the currency, so its minor units nearly always do).
    minor = minor_units(currency)
    units = int(amount.scaleb(minor))
    whole = [int(w.scaleb(minor)) for w in weights]
    if any(w.scaleb(minor) != i for w, i in zip(weights, whole, strict=True)):
        exponents = [w.as_tuple().exponent for w in weights]
        scale = max((-e for e in exponents if isinstance(e, int)), default=0)
        whole = [int(w.scaleb(max(scale, 0))) for w in weights]
    parts = sum(whole)
    floors = [units * w // parts for w in whole]
    left = units - sum(floors)
    by_remainder = sorted(range(len(whole)), key=lambda i: (-(units * whole[i] % parts), i))
    for i in by_remainder[:left]:
        floors[i] += 1
    return [Decimal(f).scaleb(-minor) for f in floors]


def take(remaining: Decimal, units: int, remaining_units: int, currency: str) -> Decimal:
    """The part of ``remaining`` that ``units`` of ``remaining_units`` take; the last take all."""
    if units >= remaining_units:
        return remaining
    if not remaining:
        return remaining
    # Mostly the remaining units are all alike (unit price x units): in whole minor units, the
    # share is then exact without rounding.
    minor = minor_units(currency)
    scaled = remaining.scaleb(minor)
    whole = int(scaled)
    if whole == scaled and whole % remaining_units == 0:
        return Decimal(whole // remaining_units * units).scaleb(-minor)
    return round_money(ratio(remaining, units, remaining_units), currency)


# --- what the shop front sends -------------------------------------------------


@dataclass(frozen=True, slots=True)
class Discount:
    """A discount on a line or an order. On a line, ``order_level`` marks its share of an
    order discount, allocated to it at placement."""

    code: str
    amount: Decimal
    order_level: bool = False


@dataclass(frozen=True, slots=True)
class TaxLine:
    """One tax on a line or a shipping line: its name, its rate (0.2 for 20%) and its amount."""

    name: str
    rate: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class TaxRate:
    """A tax as asked for: with no amount, the amount follows from the rate."""

    name: str
    rate: Decimal
    amount: Decimal | None = None


@dataclass(frozen=True, slots=True)
class ShippingLine:
    code: str
    fee: Decimal
    discount: Decimal = ZERO
    taxes: tuple[TaxLine, ...] = ()

    @property
    def tax(self) -> Decimal:
        return sum((t.amount for t in self.taxes), ZERO)

    def amounts(self) -> Amounts:
        return Amounts(self.fee, self.discount, self.tax)


@dataclass(frozen=True, slots=True)
class LineTerms:
    """A line's price terms as the shop front sends them."""

    discounts: tuple[Discount, ...] = ()
    taxes: tuple[TaxRate, ...] = ()


@dataclass(frozen=True, slots=True)
class ShippingTerms:
    code: str
    fee: Decimal
    discount: Decimal = ZERO
    taxes: tuple[TaxRate, ...] = ()


# --- amounts -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Amounts:
    """Price (``gross``: unit price x units, or a shipping fee), discount and tax of some units."""

    gross: Decimal = ZERO
    discount: Decimal = ZERO
    tax: Decimal = ZERO

    def __add__(self, other: Amounts) -> Amounts:
        return Amounts(self.gross + other.gross, self.discount + other.discount, self.tax + other.tax)

    def __sub__(self, other: Amounts) -> Amounts:
        return Amounts(self.gross - other.gross, self.discount - other.discount, self.tax - other.tax)

    def total(self, prices_include_tax: bool) -> Decimal:
        """What the customer pays for these units."""
        return self.gross - self.discount + (ZERO if prices_include_tax else self.tax)

    def net(self, prices_include_tax: bool) -> Decimal:
        """Their value after discounts, without tax: net sales."""
        return self.gross - self.discount - (self.tax if prices_include_tax else ZERO)

    def taking(self, units: int, remaining_units: int, currency: str) -> Amounts:
        """The part of these amounts that ``units`` of ``remaining_units`` take, each part apart."""
        if not self.discount and not self.tax:
            return Amounts(take(self.gross, units, remaining_units, currency))
        return Amounts(
            take(self.gross, units, remaining_units, currency),
            take(self.discount, units, remaining_units, currency),
            take(self.tax, units, remaining_units, currency),
        )


NO_AMOUNTS = Amounts()


def sum_amounts(amounts: Iterable[Amounts]) -> Amounts:
    total = NO_AMOUNTS
    for a in amounts:
        total = total + a
    return total


# --- pricing an order ------------------------------------------------------------


def check_rate(rate: Decimal, name: str, of: str) -> Decimal:
    if not isinstance(rate, Decimal) or not rate.is_finite() or rate < 0 or rate > 1:
        raise InvalidCommand(f"tax rate {name!r} of {of} must be a fraction from 0 to 1 (0.2 for 20%), got {rate!r}")
    return rate


def taxes_on(
    base: Decimal, asked: Sequence[TaxRate], prices_include_tax: bool, currency: str, what: str
) -> tuple[TaxLine, ...]:
    """The tax lines on ``base`` (a price after discounts), amounts as sent or from their rates."""
    rates = ZERO
    for t in asked:
        rates += check_rate(t.rate, t.name, what)
    lines = []
    for t in asked:
        if t.amount is not None:
            amount = check_amount(t.amount, currency, allow_zero=True, what=_named("tax", t.name, what))
        elif prices_include_tax:
            amount = round_money(ratio(base, t.rate, 1 + rates), currency)
        else:
            amount = round_money(_EXACT.multiply(base, t.rate), currency)
        lines.append(TaxLine(t.name, t.rate, amount))
    if prices_include_tax and sum((t.amount for t in lines), ZERO) > base:
        raise InvalidCommand(f"the taxes of {what} are more than its tax-inclusive price after discounts ({base})")
    return tuple(lines)


def price_lines(
    lines: Sequence[tuple[str, Decimal, LineTerms]],
    order_discounts: Sequence[Discount],
    prices_include_tax: bool,
    currency: str,
) -> list[tuple[tuple[Discount, ...], tuple[TaxLine, ...]]]:
    """Each line's discounts (its own, then its share of each order discount) and taxes.

    ``lines`` are (sku, gross, terms). Order discounts are allocated over what the lines are
    worth after their own discounts, one discount after another."""
    discounts: list[list[Discount]] = []
    left: list[Decimal] = []
    for sku, gross, terms in lines:
        own = [_checked(d, currency, "discount", sku) for d in terms.discounts]
        if sum((d.amount for d in own), ZERO) > gross:
            raise InvalidCommand(f"the discounts of {sku} are more than its price ({gross})")
        discounts.append(own)
        left.append(gross - sum((d.amount for d in own), ZERO))
    for asked in order_discounts:
        d = _checked(asked, currency, "order discount", "the order")
        if d.amount > sum(left, ZERO):
            raise InvalidCommand(f"order discount {d.code!r} ({d.amount}) is more than the lines are worth")
        for i, part in enumerate(allocate(d.amount, left, currency)):
            if part:
                discounts[i].append(Discount(d.code, part, order_level=True))
                left[i] -= part
    return [
        (tuple(own), taxes_on(left[i], terms.taxes, prices_include_tax, currency, sku))
        for i, ((sku, _, terms), own) in enumerate(zip(lines, discounts, strict=True))
    ]


def price_shipping(terms: ShippingTerms, prices_include_tax: bool, currency: str) -> ShippingLine:
    what = f"shipping {terms.code!r}"
    fee = check_amount(terms.fee, currency, allow_zero=True, what=f"fee of {what}")
    discount = check_amount(terms.discount, currency, allow_zero=True, what=f"discount of {what}")
    if discount > fee:
        raise InvalidCommand(f"the discount of {what} is more than its fee ({fee})")
    taxes = taxes_on(fee - discount, terms.taxes, prices_include_tax, currency, what)
    return ShippingLine(terms.code, fee, discount, taxes)


def _checked(d: Discount, currency: str, kind: str, of: str) -> Discount:
    if not d.code.strip():
        raise InvalidCommand(f"a {kind} of {of} needs a code")
    check_amount(d.amount, currency, allow_zero=True, what=_named(kind, d.code, of))
    return d


def _named(kind: str, name: str, of: str) -> Callable[[], str]:
    """How a refusal names an amount, made only if there is one."""
    return lambda: f"{kind} {name!r} of {of}"
