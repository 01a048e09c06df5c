"""Which aggregates a command will surely load, so a group commit loads them all at once,
and which it creates, so nothing is loaded for them."""

from __future__ import annotations

from uuid import UUID

from commands import messages as m
from domain.locations import LocationDirectory
from domain.orders import Order
from domain.stock import StockItem

_ORDER_COMMANDS = (
    m.RecordPayment,
    m.CancelOrder,
    m.ShipOrder,
    m.DeliverShipment,
    m.RequestReturn,
    m.ReceiveReturn,
)


def streams(command: m.Command) -> list[UUID]:
    if isinstance(command, m.PlaceOrder):
        return [Order.id_for(command.order_id), LocationDirectory.ID] if command.order_id else []
    if isinstance(command, m.ReceiveStock | m.AdjustStock | m.SetStockPolicy):
        return [StockItem.id_for(command.sku, command.location_id), LocationDirectory.ID]
    if isinstance(command, _ORDER_COMMANDS):
        return [Order.id_for(command.order_id)]
    return []


def created(asked: m.Command, with_ids: m.Command) -> list[UUID]:
    """Streams the command starts under an id the ledger generated for it just now: no query
    could find events there (a clash would still fail the save, as any conflict does)."""
    if isinstance(asked, m.PlaceOrder) and asked.order_id is None and isinstance(with_ids, m.PlaceOrder):
        return [Order.id_for(with_ids.order_id)] if with_ids.order_id else []
    return []
