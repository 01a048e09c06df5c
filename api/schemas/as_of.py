"""Aggregates as they stood at a moment, for auditors."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel

from domain.orders import Order
from domain.stock import StockItem

TimeKind = Literal["business", "recorded"]


class OrderAsOf(BaseModel):
    order_id: str
    at: datetime
    time: TimeKind
    version: int
    status: str
    payment_status: str
    return_status: str
    currency: str
    total: Decimal
    money: dict[str, Decimal]
    lines: list[dict[str, Any]]
    payments: dict[str, Decimal]
    shipments: dict[str, dict[str, Any]]

    @classmethod
    def of(cls, order: Order, at: datetime, time: TimeKind) -> OrderAsOf:
        return cls(
            order_id=order.order_id,
            at=at,
            time=time,
            version=order.version,
            status=order.status,
            payment_status=order.payment_status,
            return_status=order.return_status,
            currency=order.currency,
            total=order.total,
            money=order.money.figures(),
            lines=[{k: v for k, v in asdict(line).items() if k != "allocations"} for line in order.lines.values()],
            payments=asdict(order.payments),
            shipments={k: asdict(v) for k, v in order.shipments.items()},
        )


class StockAsOf(BaseModel):
    sku: str
    location_id: str
    at: datetime
    time: TimeKind
    version: int
    balances: dict[str, int]
    on_hand: int
    backorders: int
    reorder_point: int
    allow_backorder: bool

    @classmethod
    def of(cls, item: StockItem, at: datetime, time: TimeKind) -> StockAsOf:
        return cls(
            sku=item.sku,
            location_id=item.location_id,
            at=at,
            time=time,
            version=item.version,
            balances=item.balances,
            on_hand=item.on_hand,
            backorders=item.backorders,
            reorder_point=item.reorder_point,
            allow_backorder=item.allow_backorder,
        )
