from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated, ClassVar, Self

from pydantic import Field, StringConstraints, model_validator

from api.schemas.common import (
    PRINTABLE_PATTERN,
    Amount,
    BusinessTime,
    CommandBody,
    Currency,
    Identifier,
    LedgerTime,
    Price,
    Quantity,
    Reference,
    Sku,
    Strict,
    Text,
)
from api.schemas.money import MAX_TERMS, PRICED_ORDER_EXAMPLE, DiscountBody, Provider, ShippingBody, TaxBody
from commands import messages as m
from domain.errors import InvalidCommand
from domain.money import check_amount
from domain.payments import PaymentKind
from domain.pricing import Discount
from domain.stock import Disposition

# Real invoices run to several hundred lines (590 in the UCI Online Retail data).
MAX_LINES = 2000

Channel = Annotated[
    str,
    StringConstraints(min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_-]*$"),
    Field(description="Sales channel: web, marketplace, store, phone, b2b, ...", examples=["web"]),
]
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$"), Field(description="ISO 3166-1 alpha-2.")]


TrackingUrl = Annotated[
    str,
    StringConstraints(max_length=2048, pattern=r"^https://[\x21-\x7e]+$"),
    Field(description="Where the customer follows the parcel (https).", examples=["https://track.example/JD0"]),
]


class Address(Strict):
    name: Text
    line1: Text
    line2: Text | None = None
    city: Text
    region: Text | None = None
    postal_code: Annotated[str, StringConstraints(min_length=1, max_length=16, pattern=PRINTABLE_PATTERN)]
    country: Country
    email: Annotated[str, StringConstraints(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] | None = None
    phone: Annotated[str, StringConstraints(max_length=32, pattern=r"^\+?[0-9 ()-]{3,}$")] | None = None
    language: Annotated[
        str | None,
        Field(
            pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$",
            max_length=35,
            description="The customer's language (BCP 47, such as en or de-CH): their emails are written in it.",
        ),
    ] = None


class OrderLineBody(Strict):
    sku: Sku
    quantity: Quantity
    unit_price: Price
    discounts: list[DiscountBody] = Field(default_factory=list, max_length=MAX_TERMS)
    taxes: list[TaxBody] = Field(default_factory=list, max_length=MAX_TERMS)

    def to_line(self) -> m.OrderLine:
        return m.OrderLine(
            sku=self.sku,
            quantity=self.quantity,
            unit_price=self.unit_price,
            discounts=tuple(Discount(d.code, d.amount) for d in self.discounts),
            taxes=tuple(t.to_rate() for t in self.taxes),
        )


class LineQuantityBody(Strict):
    sku: Sku
    quantity: Quantity


class ReturnLineBody(Strict):
    sku: Sku
    quantity: Quantity
    reason: Text


def _unique_skus(lines: Sequence[OrderLineBody | LineQuantityBody | ReturnLineBody] | None) -> None:
    skus = [line.sku for line in lines or []]
    if len(set(skus)) != len(skus):
        raise ValueError("each SKU may appear on one line only")


def _line_quantities(lines: list[LineQuantityBody] | None) -> tuple[m.LineQuantity, ...] | None:
    return None if lines is None else tuple(m.LineQuantity(sku=li.sku, quantity=li.quantity) for li in lines)


class PlaceOrderBody(CommandBody):
    command: ClassVar[type[m.Command]] = m.PlaceOrder
    model_config = Strict.model_config | {
        "json_schema_extra": {
            "examples": [
                {
                    "order_id": "ORD-1001",
                    "channel": "web",
                    "customer_id": "C-17850",
                    "currency": "GBP",
                    "lines": [
                        {"sku": "85123A", "quantity": 6, "unit_price": "2.55"},
                        {"sku": "71053", "quantity": 6, "unit_price": "3.39"},
                    ],
                    "ship_to": {
                        "name": "A. Customer",
                        "line1": "1 High Street",
                        "city": "London",
                        "postal_code": "N1 9GU",
                        "country": "GB",
                    },
                    "promised_ship_by": "2026-03-02T17:00:00Z",
                    "promised_delivery_by": "2026-03-05T17:00:00Z",
                },
                PRICED_ORDER_EXAMPLE,
            ]
        }
    }

    order_id: Identifier | None = None
    channel: Channel
    customer_id: Identifier
    ship_to: Address | None = None
    currency: Currency
    lines: list[OrderLineBody] = Field(min_length=1, max_length=MAX_LINES)
    location_id: Identifier | None = Field(default=None, description="Commit from this location only.")
    promised_ship_by: LedgerTime | None = None
    promised_delivery_by: LedgerTime | None = None
    prices_include_tax: bool = Field(default=False, description="Unit prices and shipping fees include their taxes.")
    discounts: list[DiscountBody] = Field(
        default_factory=list, max_length=MAX_TERMS, description="Order discounts, allocated to the lines."
    )
    shipping: list[ShippingBody] = Field(default_factory=list, max_length=MAX_TERMS)
    occurred_at: BusinessTime = None

    @model_validator(mode="after")
    def lines_fit_the_currency(self) -> Self:
        _unique_skus(self.lines)
        for line in self.lines:
            try:
                check_amount(line.unit_price, self.currency, allow_zero=True, what=f"unit_price of {line.sku}")
            except InvalidCommand as error:
                raise ValueError(error.detail) from None
        return self

    def to_command(self) -> m.PlaceOrder:
        return m.PlaceOrder(
            order_id=self.order_id,
            channel=self.channel,
            customer_id=self.customer_id,
            ship_to=self.ship_to.model_dump(exclude_none=True) if self.ship_to else None,
            currency=self.currency,
            lines=tuple(li.to_line() for li in self.lines),
            location_id=self.location_id,
            promised_ship_by=self.promised_ship_by,
            promised_delivery_by=self.promised_delivery_by,
            prices_include_tax=self.prices_include_tax,
            discounts=tuple(Discount(d.code, d.amount) for d in self.discounts),
            shipping=tuple(sh.to_terms() for sh in self.shipping),
            occurred_at=self.occurred_at,
        )


class PaymentBody(CommandBody):
    command: ClassVar[type[m.Command]] = m.RecordPayment
    model_config = Strict.model_config | {
        "json_schema_extra": {
            "examples": [
                {"kind": "capture", "amount": "35.64", "provider": "stripe", "reference": "ch_3MtwBw"},
                {"kind": "refund", "amount": "5.10", "provider": "stripe", "reference": "re_9K", "return_id": "RET-1"},
            ]
        }
    }

    kind: PaymentKind
    amount: Amount
    reference: Reference | None = None
    provider: Provider | None = None
    return_id: Identifier | None = Field(default=None, description="A refund: the return it pays.")
    occurred_at: BusinessTime = None

    def to_command(self, order_id: str) -> m.RecordPayment:
        return m.RecordPayment(
            order_id=order_id,
            kind=self.kind,
            amount=self.amount,
            reference=self.reference,
            provider=self.provider,
            return_id=self.return_id,
            occurred_at=self.occurred_at,
        )


class CancellationBody(CommandBody):
    command: ClassVar[type[m.Command]] = m.CancelOrder
    model_config = Strict.model_config | {
        "json_schema_extra": {
            "examples": [
                {"reason": "customer request"},
                {"reason": "out of stock", "lines": [{"sku": "71053", "quantity": 2}]},
                {"reason": "customer request", "refund": True, "provider": "stripe", "reference": "re_3Mt"},
            ]
        }
    }

    reason: Text
    lines: list[LineQuantityBody] | None = Field(
        default=None, min_length=1, max_length=MAX_LINES, description="Default: every open unit."
    )
    refund: bool = Field(default=False, description="Also refund what was paid beyond the new amount owed.")
    reference: Reference | None = Field(default=None, description="The refund's reference at its provider.")
    provider: Provider | None = None
    occurred_at: BusinessTime = None

    @model_validator(mode="after")
    def unique(self) -> Self:
        _unique_skus(self.lines)
        return self

    def to_command(self, order_id: str) -> m.CancelOrder:
        return m.CancelOrder(
            order_id=order_id,
            reason=self.reason,
            lines=_line_quantities(self.lines),
            refund=self.refund,
            reference=self.reference,
            provider=self.provider,
            occurred_at=self.occurred_at,
        )


class ShipmentBody(CommandBody):
    command: ClassVar[type[m.Command]] = m.ShipOrder
    model_config = Strict.model_config | {
        "json_schema_extra": {
            "examples": [
                {"shipment_id": "SHP-1", "carrier": "Royal Mail", "tracking_number": "JD000000000GB"},
                {"location_id": "main", "lines": [{"sku": "85123A", "quantity": 2}]},
            ]
        }
    }

    shipment_id: Identifier | None = None
    location_id: Identifier | None = Field(
        default=None, description="Default: the best-ranked location holding open units of the order."
    )
    lines: list[LineQuantityBody] | None = Field(
        default=None, min_length=1, max_length=MAX_LINES, description="Default: every committed unit at the location."
    )
    carrier: Text | None = None
    tracking_number: (
        Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=PRINTABLE_PATTERN)] | None
    ) = None
    tracking_url: TrackingUrl | None = None
    occurred_at: BusinessTime = None

    @model_validator(mode="after")
    def unique(self) -> Self:
        _unique_skus(self.lines)
        return self

    def to_command(self, order_id: str) -> m.ShipOrder:
        return m.ShipOrder(
            order_id=order_id,
            shipment_id=self.shipment_id,
            location_id=self.location_id,
            lines=_line_quantities(self.lines),
            carrier=self.carrier,
            tracking_number=self.tracking_number,
            tracking_url=self.tracking_url,
            occurred_at=self.occurred_at,
        )


class DeliveryBody(CommandBody):
    command: ClassVar[type[m.Command]] = m.DeliverShipment
    model_config = Strict.model_config | {"json_schema_extra": {"examples": [{"occurred_at": "2026-03-04T11:02:00Z"}]}}

    occurred_at: BusinessTime = None

    def to_command(self, order_id: str, shipment_id: str) -> m.DeliverShipment:
        return m.DeliverShipment(order_id=order_id, shipment_id=shipment_id, occurred_at=self.occurred_at)


class ReturnBody(CommandBody):
    command: ClassVar[type[m.Command]] = m.RequestReturn
    model_config = Strict.model_config | {
        "json_schema_extra": {
            "examples": [
                {"return_id": "RET-1", "lines": [{"sku": "85123A", "quantity": 1, "reason": "damaged in post"}]}
            ]
        }
    }

    return_id: Identifier | None = None
    lines: list[ReturnLineBody] = Field(min_length=1, max_length=MAX_LINES)
    approve: bool = Field(default=True, description="Open it approved; false: requested, to approve or decline.")
    replacements: list[OrderLineBody] = Field(
        default_factory=list,
        max_length=MAX_LINES,
        description="An exchange: lines sent instead, held like an order's lines once the return is approved.",
    )
    occurred_at: BusinessTime = None

    @model_validator(mode="after")
    def unique(self) -> Self:
        _unique_skus(self.lines)
        _unique_skus(self.replacements)
        return self

    def to_command(self, order_id: str) -> m.RequestReturn:
        return m.RequestReturn(
            order_id=order_id,
            return_id=self.return_id,
            lines=tuple(m.ReturnLine(sku=li.sku, quantity=li.quantity, reason=li.reason) for li in self.lines),
            approve=self.approve,
            replacements=tuple(li.to_line() for li in self.replacements),
            occurred_at=self.occurred_at,
        )


class ReturnReceiptLineBody(Strict):
    sku: Sku
    quantity: Quantity
    disposition: Disposition


class ReturnReceiptBody(CommandBody):
    command: ClassVar[type[m.Command]] = m.ReceiveReturn
    model_config = Strict.model_config | {
        "json_schema_extra": {
            "examples": [
                {"location_id": "main", "lines": [{"sku": "85123A", "quantity": 1, "disposition": "restock"}]},
                {
                    "location_id": "main",
                    "lines": [{"sku": "85123A", "quantity": 1, "disposition": "restock"}],
                    "restocking_fee": "0.50",
                    "refund_shipping": True,
                    "refund": True,
                    "provider": "stripe",
                    "reference": "re_3Mt",
                },
            ]
        }
    }

    location_id: Identifier
    lines: list[ReturnReceiptLineBody] = Field(min_length=1, max_length=MAX_LINES)
    restocking_fee: Price = Field(default=Decimal(0), description="Kept from the credit.")
    refund_shipping: bool = Field(default=False, description="Also credit these units' share of the shipping.")
    refund: bool = Field(default=False, description="Refund the credit less the fee now, naming this return.")
    reference: Reference | None = Field(default=None, description="The refund's reference at its provider.")
    provider: Provider | None = None
    occurred_at: BusinessTime = None

    def to_command(self, order_id: str, return_id: str) -> m.ReceiveReturn:
        return m.ReceiveReturn(
            order_id=order_id,
            return_id=return_id,
            location_id=self.location_id,
            lines=tuple(
                m.ReturnReceiptLine(sku=li.sku, quantity=li.quantity, disposition=li.disposition) for li in self.lines
            ),
            restocking_fee=self.restocking_fee,
            refund_shipping=self.refund_shipping,
            refund=self.refund,
            reference=self.reference,
            provider=self.provider,
            occurred_at=self.occurred_at,
        )


NoteText = Annotated[
    str, StringConstraints(min_length=1, max_length=2000, strip_whitespace=True, pattern=PRINTABLE_PATTERN)
]


class NoteBody(CommandBody):
    command: ClassVar[type[m.Command]] = m.AddOrderNote
    model_config = Strict.model_config | {
        "json_schema_extra": {"examples": [{"text": "Customer asked for gift wrap."}]}
    }

    text: Annotated[
        str, StringConstraints(min_length=1, max_length=2000, strip_whitespace=True, pattern=PRINTABLE_PATTERN)
    ]
    occurred_at: BusinessTime = None

    def to_command(self, order_id: str) -> m.AddOrderNote:
        return m.AddOrderNote(order_id=order_id, text=self.text, occurred_at=self.occurred_at)
