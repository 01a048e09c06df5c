"""The price terms of an order's body: discounts, tax lines, shipping lines, and payment names."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from api.schemas.common import PRINTABLE_PATTERN, Price, Strict, Text
from domain.pricing import ShippingTerms, TaxRate

Code = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=PRINTABLE_PATTERN)]
Rate = Annotated[
    Decimal,
    Field(ge=0, le=1, max_digits=12, allow_inf_nan=False, description="A fraction: 0.2 for 20%.", examples=["0.2"]),
]
Provider = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$"),
    Field(description="The payment provider, as its settlement report names it.", examples=["stripe"]),
]
MAX_TERMS = 20


class DiscountBody(Strict):
    code: Code
    amount: Price


class TaxBody(Strict):
    name: Text
    rate: Rate
    amount: Price | None = Field(default=None, description="Default: from the rate (see the docs' rounding rules).")

    def to_rate(self) -> TaxRate:
        return TaxRate(self.name, self.rate, self.amount)


class ShippingBody(Strict):
    code: Code
    fee: Price
    discount: Price = Decimal(0)
    taxes: list[TaxBody] = Field(default_factory=list, max_length=MAX_TERMS)

    def to_terms(self) -> ShippingTerms:
        return ShippingTerms(self.code, self.fee, self.discount, tuple(t.to_rate() for t in self.taxes))


_VAT = [{"name": "VAT", "rate": "0.2"}]
# An order with price terms, for the API description: it reads back with subtotal 40.00,
# discounts 10.00, shipping 4.99, tax 7.00 and total 41.99 (docs/api.md).
PRICED_ORDER_EXAMPLE: dict[str, Any] = {
    "order_id": "ORD-1002",
    "channel": "web",
    "customer_id": "C-17850",
    "currency": "GBP",
    "lines": [
        {
            "sku": "85123A",
            "quantity": 3,
            "unit_price": "10.00",
            "discounts": [{"code": "LINE3", "amount": "3.00"}],
            "taxes": _VAT,
        },
        {"sku": "71053", "quantity": 2, "unit_price": "5.00", "taxes": _VAT},
    ],
    "discounts": [{"code": "ORDER7", "amount": "7.00"}],
    "shipping": [{"code": "standard", "fee": "4.99", "taxes": _VAT}],
}
