from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar
from uuid import UUID

from commands.handlers import Handled, Peek, given_id, holding
from commands.handlers.desk import hold_by_rules
from commands.messages import (
    AddOrderNote,
    CancelOrder,
    DeliverShipment,
    LineQuantity,
    PlaceOrder,
    ReceiveReturn,
    RecordPayment,
    RequestReturn,
    ShipOrder,
)
from commands.unit_of_work import UnitOfWork, event_ref
from domain.errors import AlreadyExists, InvalidCommand
from domain.hold_rules import HoldRules
from domain.locations import LocationDirectory
from domain.meta import Meta
from domain.order_money import OrderMoney
from domain.orders import Order
from domain.sourcing import Demand, Position, source
from domain.stock import StockItem


class _HasSku(Protocol):
    @property
    def sku(self) -> str: ...


L = TypeVar("L", bound=_HasSku)


def place_order(cmd: PlaceOrder, uow: UnitOfWork, meta: Meta) -> Handled:
    order_id = given_id(cmd.order_id, "order_id")
    if uow.get(Order, Order.id_for(order_id)) is not None:
        raise AlreadyExists(f"order {order_id!r} already exists")
    if cmd.location_id is not None:
        uow.require_location(cmd.location_id)
        candidates = [cmd.location_id]
    else:
        directory = uow.directory()
        candidates = [r.location_id for r in directory.ranked()] if directory else []
    items = {}
    for line in cmd.lines:
        for location_id in candidates:
            item = uow.stock_item(line.sku, location_id)
            if item is not None:
                items[(line.sku, location_id)] = item
    positions = {key: Position(item.available, item.allow_backorder) for key, item in items.items()}
    _by_sku(cmd.lines)
    plan = source([Demand(line.sku, line.quantity) for line in cmd.lines], candidates, positions)
    order = uow.add(
        Order.place(
            order_id=order_id,
            channel=cmd.channel,
            customer_id=cmd.customer_id,
            personal_data=uow.sealer.seal(cmd.customer_id, cmd.ship_to),
            currency=cmd.currency,
            lines=[(line.sku, line.quantity, line.unit_price) for line in cmd.lines],
            plan=plan,
            location_id=cmd.location_id,
            promised_ship_by=cmd.promised_ship_by,
            promised_delivery_by=cmd.promised_delivery_by,
            meta=meta,
            terms={line.sku: terms for line in cmd.lines if (terms := line.terms()) is not None},
            discounts=cmd.discounts,
            shipping=cmd.shipping,
            prices_include_tax=cmd.prices_include_tax,
        )
    )
    caused = meta.caused_by(event_ref(order))
    for sku, allocations in plan.items():
        for allocation in allocations:
            # Sourcing allocates only where it was given a position, so the item was looked up.
            item = items[(sku, allocation.location_id)]
            item.commit(order_id, allocation.committed, allocation.backordered, caused)
    hold_by_rules(uow, order, meta)
    answer: dict[str, object] = {"status": order.status}
    if order.holds:
        answer["on_hold"] = True
    return Handled(order_id, order, answer)


def record_payment(cmd: RecordPayment, uow: UnitOfWork, meta: Meta) -> Handled:
    order = uow.order(cmd.order_id)
    order.record_payment(
        cmd.kind,
        cmd.amount,
        cmd.reference,
        meta,
        provider=cmd.provider,
        return_id=cmd.return_id,
        tolerance_percent=uow.money.over_authorization_percent,
    )
    money = order.money
    return Handled(cmd.order_id, order, {"payment_status": money.payment_status, **_balances(money)})


def cancel_order(cmd: CancelOrder, uow: UnitOfWork, meta: Meta) -> Handled:
    order = uow.order(cmd.order_id)
    lines = None if cmd.lines is None else _quantities(cmd.lines)
    before = order.payments
    cancelled = order.cancel(cmd.reason, lines, meta, refund=cmd.refund, reference=cmd.reference, provider=cmd.provider)
    caused = meta.caused_by(event_ref(order))
    for line in cancelled:
        for release in line.releases:
            item = uow.existing_stock_item(line.sku, release.location_id)
            item.release(cmd.order_id, release.committed, release.backordered, cmd.reason, caused)
    money = order.money
    answer = {
        "status": order.status,
        "payment_status": money.payment_status,
        "voided": str(order.payments.voided - before.voided),
        "refunded": str(order.payments.refunded - before.refunded),
        **_balances(money),
    }
    return Handled(cmd.order_id, order, answer)


def ship_order(cmd: ShipOrder, uow: UnitOfWork, meta: Meta) -> Handled:
    shipment_id = given_id(cmd.shipment_id, "shipment_id")
    order = uow.order(cmd.order_id)
    lines = None if cmd.lines is None else _quantities(cmd.lines)
    if cmd.location_id is not None:
        uow.require_location(cmd.location_id)
    directory = uow.directory()
    ranked = [r.location_id for r in directory.ranked()] if directory else []
    location_id, shipped = order.ship(
        shipment_id,
        cmd.location_id,
        lines,
        carrier=cmd.carrier,
        tracking_number=cmd.tracking_number,
        meta=meta,
        ranked_locations=ranked,
        tracking_url=cmd.tracking_url,
    )
    caused = meta.caused_by(event_ref(order))
    for line in shipped:
        item = uow.existing_stock_item(line.sku, location_id)
        item.ship(cmd.order_id, shipment_id, line.committed, line.backordered, caused)
    return Handled(
        cmd.order_id, order, {"shipment_id": shipment_id, "location_id": location_id, "status": order.status}
    )


def deliver_shipment(cmd: DeliverShipment, uow: UnitOfWork, meta: Meta) -> Handled:
    order = uow.order(cmd.order_id)
    order.deliver(cmd.shipment_id, meta)
    return Handled(cmd.order_id, order, {"shipment_id": cmd.shipment_id, "status": order.status})


def add_order_note(cmd: AddOrderNote, uow: UnitOfWork, meta: Meta) -> Handled:
    order = uow.order(cmd.order_id)
    order.add_note(cmd.text, meta)
    return Handled(cmd.order_id, order, {"notes": len(order.notes), "note": len(order.notes)})


def request_return(cmd: RequestReturn, uow: UnitOfWork, meta: Meta) -> Handled:
    return_id = given_id(cmd.return_id, "return_id")
    order = uow.order(cmd.order_id)
    wanted = [(r.sku, r.quantity, r.unit_price, r.terms()) for r in _by_sku(cmd.replacements).values()]
    order.priced(wanted) if wanted else None  # refused on its terms before its stock is looked at
    demands = [Demand(r.sku, r.quantity) for r in cmd.replacements]
    plan = holding.plan(uow, demands, order.location_id) if demands and cmd.approve else None
    order.request_return(
        return_id,
        {sku: (line.quantity, line.reason) for sku, line in _by_sku(cmd.lines).items()},
        meta,
        approve=cmd.approve,
        replacements=wanted,
        plan=plan,
    )
    added = order.returns[return_id].replacements if cmd.approve else ()
    holding.commit(uow, cmd.order_id, added, meta.caused_by(event_ref(order)))
    answer = {
        "return_id": return_id,
        "return_status": order.return_status,
        "return_state": order.returns[return_id].status,
    }
    return Handled(cmd.order_id, order, answer)


def receive_return(cmd: ReceiveReturn, uow: UnitOfWork, meta: Meta) -> Handled:
    order = uow.order(cmd.order_id)
    uow.require_location(cmd.location_id)
    before = order.payments.refunded
    credited = order.receive_return(
        cmd.return_id,
        cmd.location_id,
        [(line.sku, line.quantity, line.disposition) for line in cmd.lines],
        meta=meta,
        restocking_fee=cmd.restocking_fee,
        refund_shipping=cmd.refund_shipping,
        refund=cmd.refund,
        reference=cmd.reference,
        provider=cmd.provider,
    )
    caused = meta.caused_by(event_ref(order))
    for line in cmd.lines:
        item = uow.stock_item_or_open(line.sku, cmd.location_id, meta)
        item.restock(cmd.order_id, cmd.return_id, line.quantity, line.disposition, caused)
    answer = {
        "return_id": cmd.return_id,
        "return_status": order.return_status,
        "credited": str(credited),
        "refunded": str(order.payments.refunded - before),
        "return_refund_due": str(order.returns[cmd.return_id].refund_due),
        **_balances(order.money),
    }
    return Handled(cmd.order_id, order, answer)


def _balances(money: OrderMoney) -> dict[str, str]:
    """Amounts as strings, as the API writes every amount."""
    return {"total": str(money.total), "balance_due": str(money.balance_due), "refund_due": str(money.refund_due)}


# --- what each command reads ------------------------------------------------


def order_reads(cmd: RecordPayment | DeliverShipment | AddOrderNote, peek: Peek) -> list[UUID]:
    return [Order.id_for(cmd.order_id)]


def request_return_reads(cmd: RequestReturn, peek: Peek) -> list[UUID]:
    """The order; for an exchange, the directory and the replacements' stock at every candidate."""
    if not cmd.replacements:
        return [Order.id_for(cmd.order_id)]
    order = peek(Order.id_for(cmd.order_id))
    ranked = holding.ranked_in(peek(LocationDirectory.ID))
    if isinstance(order, Order) and order.location_id:
        ranked = [order.location_id]
    return [
        Order.id_for(cmd.order_id),
        LocationDirectory.ID,
        *holding.stock_reads([r.sku for r in cmd.replacements], ranked),
    ]


def place_order_reads(cmd: PlaceOrder, peek: Peek) -> list[UUID]:
    """The order, the directory, then each line's stock item at each candidate location."""
    if not cmd.order_id:
        return []
    if cmd.location_id is not None:
        candidates = [cmd.location_id]
    else:
        directory = peek(LocationDirectory.ID)
        candidates = [r.location_id for r in directory.ranked()] if isinstance(directory, LocationDirectory) else []
    return [
        Order.id_for(cmd.order_id),
        LocationDirectory.ID,
        HoldRules.ID,
        *(StockItem.id_for(line.sku, location_id) for line in cmd.lines for location_id in candidates),
    ]


def held_stock_reads(cmd: CancelOrder | ShipOrder, peek: Peek) -> list[UUID]:
    """The order and the directory, then every stock item holding units of the order."""
    order = peek(Order.id_for(cmd.order_id))
    held = (
        [StockItem.id_for(sku, loc) for sku, line in order.lines.items() for loc in line.allocations]
        if isinstance(order, Order)
        else []
    )
    return [Order.id_for(cmd.order_id), LocationDirectory.ID, *held]


def receive_return_reads(cmd: ReceiveReturn, peek: Peek) -> list[UUID]:
    return [
        Order.id_for(cmd.order_id),
        LocationDirectory.ID,
        *(StockItem.id_for(line.sku, cmd.location_id) for line in cmd.lines),
    ]


def _by_sku(lines: Sequence[L]) -> dict[str, L]:
    by_sku: dict[str, L] = {}
    for line in lines:
        if line.sku in by_sku:
            raise InvalidCommand(f"SKU {line.sku!r} is named twice")
        by_sku[line.sku] = line
    return by_sku


def _quantities(lines: Sequence[LineQuantity]) -> dict[str, int]:
    return {sku: line.quantity for sku, line in _by_sku(lines).items()}
