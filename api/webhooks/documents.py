"""What a webhook body says: the event, as plain JSON, and the order's or stock item's state after it.

Personal data never leaves in a webhook: an order's sealed ship-to is left out (an integrator
with the right role reads it from ``GET /v1/orders/{id}``), and so is any field of an event
that carries it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

from domain.orders import Order
from domain.stock import StockItem
from projections.order_desk import shipment_document

# Event fields the body leaves out: the sealed ship-to, and what the envelope says already.
_LEFT_OUT = frozenset({"personal_data", "originator_id", "originator_version", "timestamp"})


def plain(value: Any) -> Any:
    """A domain value as JSON: records as objects, amounts as decimal strings, times in ISO 8601."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Enum):
        return plain(value.value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [plain(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value) if f.name not in _LEFT_OUT}
    if isinstance(value, float):
        return value
    return str(value)


def order_state(order: Order) -> dict[str, Any]:
    money = order.money
    return {
        "order_id": order.order_id,
        "status": plain(order.status),
        "payment_status": plain(money.payment_status),
        "return_status": plain(order.return_status),
        "channel": order.channel,
        "customer_id": order.customer_id,
        "currency": order.currency,
        "placed_at": plain(order.placed_at),
        "on_hold": bool(order.open_holds),
        **{name: str(amount) for name, amount in money.figures().items()},
        "lines": [
            {
                "sku": line.sku,
                "quantity": line.quantity,
                "unit_price": str(line.unit_price),
                "committed": line.committed,
                "backordered": line.backordered,
                "shipped": line.shipped,
                "delivered": line.delivered,
                "cancelled": line.cancelled,
                "returned": line.returned,
                "locations": sorted(line.allocations),
            }
            for line in order.lines.values()
        ],
        "shipments": [shipment_document(k, s) for k, s in order.shipments.items()],
        "version": order.version,
    }


def stock_state(item: StockItem) -> dict[str, Any]:
    return {
        "sku": item.sku,
        "location_id": item.location_id,
        "balances": dict(sorted(item.balances.items())),
        "available": item.available,
        "on_hand": item.on_hand,
        "backorders": item.backorders,
        "reorder_point": item.reorder_point,
        "reorder_quantity": item.reorder_quantity,
        "safety_stock": item.safety_stock,
        "allow_backorder": item.allow_backorder,
        "version": item.version,
    }


def locations_of(state: Order | StockItem) -> frozenset[str]:
    """Where an order's units are held (or a stock item is): what a location filter matches."""
    if isinstance(state, StockItem):
        return frozenset({state.location_id})
    held = {loc for line in state.lines.values() for loc in line.allocations}
    return frozenset(held | {s.location_id for s in state.shipments.values()})
