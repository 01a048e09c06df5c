"""An order's money: what it costs, what came off it, what was paid, and what is still due.

Every figure follows from the order's events (``docs/domain.md``, Order money):

    subtotal  = unit price x units, for units not cancelled
    discounts = line discounts and allocated order discounts of those units
    shipping  = shipping fees less shipping discounts (dropped when every unit is cancelled)
    tax       = taxes of those units and of the shipping
    total     = subtotal - discounts + shipping (+ tax, when prices exclude it)
    returns   = what received returns credited: their units' share of price, discounts and
                tax, and the shipping refunded with them
    owed      = total - returns + restocking fees
    balance   = owed - (captured - refunded): due when positive, a refund due when negative
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Protocol

from domain.order_records import Line, ReceivedLine, Return
from domain.payments import Payments, PaymentStatus
from domain.pricing import NO_AMOUNTS, ZERO, Amounts, ShippingLine, sum_amounts


class Priced(Protocol):
    """What an order holds that its money follows from."""

    currency: str
    prices_include_tax: bool
    lines: dict[str, Line]

    @property
    def shipping_lines(self) -> Sequence[ShippingLine]: ...

    shipping_cancelled: Amounts
    shipping_returned: Amounts
    fees: Decimal
    returns: dict[str, Return]
    payments: Payments


@dataclass(frozen=True, slots=True)
class OrderMoney:
    subtotal: Decimal
    discounts: Decimal
    shipping: Decimal
    tax: Decimal
    total: Decimal
    returns: Decimal
    fees: Decimal
    owed: Decimal
    net_sales: Decimal
    payments: Payments
    cancelled: bool  # every unit cancelled

    @property
    def payment_status(self) -> PaymentStatus:
        return self.payments.status(self.owed, self.total, self.cancelled)

    @property
    def balance(self) -> Decimal:
        return self.owed - self.payments.kept

    @property
    def balance_due(self) -> Decimal:
        return max(self.balance, ZERO)

    @property
    def refund_due(self) -> Decimal:
        return max(-self.balance, ZERO)

    @property
    def refundable(self) -> Decimal:
        return self.payments.kept

    def figures(self) -> dict[str, Decimal]:
        """Every figure by the name the read models and the API give it."""
        p = self.payments
        return {
            "subtotal": self.subtotal,
            "discounts": self.discounts,
            "shipping": self.shipping,
            "tax": self.tax,
            "total": self.total,
            "returns": self.returns,
            "fees": self.fees,
            "owed": self.owed,
            "authorized": p.authorized,
            "captured": p.captured,
            "voided": p.voided,
            "refunded": p.refunded,
            "open_authorization": p.open_authorization,
            "balance_due": self.balance_due,
            "refund_due": self.refund_due,
            "refundable": self.refundable,
        }


def shipping_amounts(order: Priced) -> Amounts:
    """The shipping of the order as placed."""
    return sum_amounts(s.amounts() for s in order.shipping_lines)


def shipping_kept(order: Priced) -> Amounts:
    """Shipping neither cancelled nor refunded with a return."""
    return shipping_amounts(order) - order.shipping_cancelled - order.shipping_returned


def money_of(order: Priced) -> OrderMoney:
    inclusive = order.prices_include_tax
    lines: Mapping[str, Line] = order.lines
    if not order.shipping_lines and all(not li.discounts and not li.taxes for li in lines.values()):
        # Orders without price terms (all orders placed before them): price x units only.
        subtotal = sum((li.unit_price * (li.quantity - li.cancelled) for li in lines.values()), ZERO)
        sold = Amounts(subtotal)
        shipping = NO_AMOUNTS
    else:
        sold = sum_amounts(li.amounts - li.cancelled_amounts for li in lines.values())
        shipping = shipping_amounts(order) - order.shipping_cancelled
    returned = [li.returned_amounts for li in lines.values() if li.returned]
    returned_lines = sum_amounts(returned)
    returns = (returned_lines + order.shipping_returned).total(inclusive)
    total = sold.total(inclusive) + shipping.total(inclusive)
    return OrderMoney(
        subtotal=sold.gross,
        discounts=sold.discount,
        shipping=shipping.gross - shipping.discount,
        tax=sold.tax + shipping.tax,
        total=total,
        returns=returns,
        fees=order.fees,
        owed=total - returns + order.fees,
        net_sales=sold.net(inclusive) - returned_lines.net(inclusive),
        payments=order.payments,
        cancelled=all(li.quantity == li.cancelled for li in lines.values()),
    )


def settlement(money: OrderMoney) -> tuple[Decimal, Decimal]:
    """After an order's amount fell: the open authorization it no longer needs (to void), and
    what was paid beyond what it owes (to refund)."""
    p = money.payments
    needed = max(money.owed - p.captured, ZERO)
    return p.open_authorization - needed, money.refund_due


def credited(taken: Iterable[Amounts], shipping: Amounts, prices_include_tax: bool) -> Decimal:
    """What a return receipt credits: what its units took off their lines, and the shipping."""
    return sum_amounts([*taken, shipping]).total(prices_include_tax)


def return_amounts(
    order: Priced, received: Sequence[ReceivedLine], refund_shipping: bool
) -> tuple[list[ReceivedLine], Amounts]:
    """Each received line with what it takes off its order line, and the shipping it takes."""
    kept = {sku: (line.kept_amounts, line.kept_units) for sku, line in order.lines.items()}
    units_kept = sum(units for _, units in kept.values())
    priced = []
    for r in received:
        amounts, units = kept[r.sku]
        taken = amounts.taking(r.quantity, units, order.currency)
        kept[r.sku] = (amounts - taken, units - r.quantity)
        priced.append(replace(r, amounts=taken))
    units = sum(r.quantity for r in received)
    shipping = shipping_kept(order).taking(units, units_kept, order.currency) if refund_shipping else NO_AMOUNTS
    return priced, shipping
