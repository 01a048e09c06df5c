from __future__ import annotations

from uuid import UUID

from commands.handlers import Handled, Peek, given_id
from commands.messages import AdjustStock, MoveStock, ReceiveStock, ReceiveTransfer, SetStockPolicy, TransferStock
from commands.unit_of_work import UnitOfWork, event_ref
from domain.errors import AlreadyExists, InvalidCommand, TransferNotFound
from domain.locations import LocationDirectory
from domain.meta import Meta
from domain.stock import StockItem
from domain.transfers import Transfer


def _stock_outcome(item: StockItem) -> Handled:
    return Handled(f"{item.sku}/{item.location_id}", item, {"sku": item.sku, "location_id": item.location_id})


def receive_stock(cmd: ReceiveStock, uow: UnitOfWork, meta: Meta) -> Handled:
    item = uow.stock_item_or_open(cmd.sku, cmd.location_id, meta)
    item.receive(cmd.quantity, cmd.reference, meta)
    return _stock_outcome(item)


def adjust_stock(cmd: AdjustStock, uow: UnitOfWork, meta: Meta) -> Handled:
    if (cmd.delta is None) == (cmd.counted_quantity is None):
        raise InvalidCommand("give exactly one of delta and counted_quantity")
    item = uow.stock_item_or_open(cmd.sku, cmd.location_id, meta)
    if cmd.delta is not None:
        item.adjust(cmd.delta, cmd.reason, meta)
    elif cmd.counted_quantity is not None:
        item.count(cmd.counted_quantity, cmd.reason, meta)
    return _stock_outcome(item)


def move_stock(cmd: MoveStock, uow: UnitOfWork, meta: Meta) -> Handled:
    uow.require_location(cmd.location_id)
    item = uow.existing_stock_item(cmd.sku, cmd.location_id)
    item.move(cmd.from_bucket, cmd.to_bucket, cmd.quantity, cmd.reason, meta)
    return _stock_outcome(item)


def set_stock_policy(cmd: SetStockPolicy, uow: UnitOfWork, meta: Meta) -> Handled:
    item = uow.stock_item_or_open(cmd.sku, cmd.location_id, meta)
    item.set_policy(cmd.reorder_point, cmd.reorder_quantity, cmd.safety_stock, cmd.allow_backorder, meta)
    return _stock_outcome(item)


def transfer_stock(cmd: TransferStock, uow: UnitOfWork, meta: Meta) -> Handled:
    transfer_id = given_id(cmd.transfer_id, "transfer_id")
    if uow.get(Transfer, Transfer.id_for(transfer_id)) is not None:
        raise AlreadyExists(f"transfer {transfer_id!r} already exists")
    uow.require_location(cmd.from_location_id)
    source = uow.existing_stock_item(cmd.sku, cmd.from_location_id)
    transfer = uow.add(
        Transfer.dispatch(
            transfer_id,
            cmd.sku,
            from_location_id=cmd.from_location_id,
            to_location_id=cmd.to_location_id,
            quantity=cmd.quantity,
            meta=meta,
        )
    )
    target = uow.stock_item_or_open(cmd.sku, cmd.to_location_id, meta)
    caused = meta.caused_by(event_ref(transfer))
    source.transfer_out(transfer_id, cmd.quantity, caused)
    target.expect_transfer(transfer_id, cmd.quantity, caused)
    return Handled(transfer_id, transfer)


def receive_transfer(cmd: ReceiveTransfer, uow: UnitOfWork, meta: Meta) -> Handled:
    transfer = uow.get(Transfer, Transfer.id_for(cmd.transfer_id))
    if transfer is None:
        raise TransferNotFound(f"no transfer {cmd.transfer_id!r}")
    received = transfer.receive(cmd.quantity, meta)
    target = uow.existing_stock_item(transfer.sku, transfer.to_location_id)
    target.transfer_in(transfer.transfer_id, received, meta.caused_by(event_ref(transfer)))
    return Handled(transfer.transfer_id, transfer, {"received": received, "outstanding": transfer.outstanding})


# --- what each command reads ------------------------------------------------


def stock_item_reads(cmd: ReceiveStock | AdjustStock | MoveStock | SetStockPolicy, peek: Peek) -> list[UUID]:
    return [StockItem.id_for(cmd.sku, cmd.location_id), LocationDirectory.ID]


def transfer_stock_reads(cmd: TransferStock, peek: Peek) -> list[UUID]:
    transfer = [Transfer.id_for(cmd.transfer_id)] if cmd.transfer_id else []
    return [
        *transfer,
        LocationDirectory.ID,
        StockItem.id_for(cmd.sku, cmd.from_location_id),
        StockItem.id_for(cmd.sku, cmd.to_location_id),
    ]


def receive_transfer_reads(cmd: ReceiveTransfer, peek: Peek) -> list[UUID]:
    """The transfer, then the stock item it goes to."""
    transfer = peek(Transfer.id_for(cmd.transfer_id))
    target = (
        [StockItem.id_for(transfer.sku, transfer.to_location_id), LocationDirectory.ID]
        if isinstance(transfer, Transfer)
        else []
    )
    return [Transfer.id_for(cmd.transfer_id), *target]
