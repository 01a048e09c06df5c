"""Which aggregates a command will surely load, so a group commit loads them all at once."""

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
