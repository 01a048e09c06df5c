"""Short ways to drive the Ledger in tests."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from commands import messages as m
from commands.ledger import CommandContext, CommandResult, Ledger
from domain.locations import LocationKind
from domain.orders import Order
from domain.stock import StockItem

MEMORY_ENV = {"PERSISTENCE_MODULE": "eventsourcing.popo"}


def memory_ledger(**kwargs: object) -> Ledger:
    return Ledger(env=MEMORY_ENV, **kwargs)  # type: ignore[arg-type]


def register(
    ledger: Ledger, location_id: str, priority: int = 1, kind: LocationKind = LocationKind.WAREHOUSE
) -> CommandResult:
    return ledger.register_location(
        m.RegisterLocation(location_id=location_id, name=f"Location {location_id}", kind=kind, priority=priority)
    )


def receive(ledger: Ledger, sku: str, location_id: str, quantity: int) -> CommandResult:
    return ledger.receive_stock(m.ReceiveStock(sku=sku, location_id=location_id, quantity=quantity))


def allow_backorder(ledger: Ledger, sku: str, location_id: str, allow: bool = True) -> CommandResult:
    return ledger.set_stock_policy(
        m.SetStockPolicy(
            sku=sku, location_id=location_id, reorder_point=0, reorder_quantity=0, safety_stock=0, allow_backorder=allow
        )
    )


def place(
    ledger: Ledger,
    lines: Iterable[tuple[str, int]] | Iterable[tuple[str, int, str]],
    order_id: str | None = None,
    location_id: str | None = None,
    ctx: CommandContext | None = None,
    **fields: object,
) -> CommandResult:
    order_lines = tuple(
        m.OrderLine(sku=line[0], quantity=line[1], unit_price=Decimal(line[2] if len(line) > 2 else "1.00"))  # type: ignore[misc]
        for line in lines
    )
    cmd = m.PlaceOrder(
        channel=str(fields.pop("channel", "web")),
        customer_id=str(fields.pop("customer_id", "cust-1")),
        currency=str(fields.pop("currency", "GBP")),
        lines=order_lines,
        order_id=order_id,
        location_id=location_id,
        **fields,  # type: ignore[arg-type]
    )
    return ledger.place_order(cmd, ctx or CommandContext())


def item(ledger: Ledger, sku: str, location_id: str) -> StockItem:
    found: StockItem = ledger.repository.get(StockItem.id_for(sku, location_id))
    return found


def order(ledger: Ledger, order_id: str) -> Order:
    found: Order = ledger.repository.get(Order.id_for(order_id))
    return found
