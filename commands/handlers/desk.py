"""The order desk's commands: holds and hold rules, edits, and the review of returns."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from commands.handlers import Handled, Peek, given_id
from commands.handlers import holding as h
from commands.messages import (
    AddOrderLine,
    ApproveReturn,
    ChangeLineQuantity,
    ChangePromisedDates,
    ChangeShipTo,
    DeclineReturn,
    PlaceHold,
    RefundReturn,
    ReleaseHold,
    RemoveHoldRule,
    RemoveOrderLine,
    SetHoldRule,
)
from commands.unit_of_work import UnitOfWork, event_ref
from domain.errors import AlreadyExists, HoldRuleNotFound
from domain.hold_rules import HoldRule, HoldRules
from domain.locations import LocationDirectory
from domain.meta import Meta
from domain.order_records import AddedLine, CancelledLine
from domain.orders import Order
from domain.payments import PaymentKind
from domain.sourcing import Demand


def place_hold(cmd: PlaceHold, uow: UnitOfWork, meta: Meta) -> Handled:
    hold_id = given_id(cmd.hold_id, "hold_id")
    order = uow.order(cmd.order_id)
    order.place_hold(hold_id, cmd.kind, cmd.reason, meta)
    return Handled(cmd.order_id, order, {"hold_id": hold_id, "on_hold": True})


def release_hold(cmd: ReleaseHold, uow: UnitOfWork, meta: Meta) -> Handled:
    order = uow.order(cmd.order_id)
    order.release_hold(cmd.hold_id, cmd.reason, meta)
    return Handled(cmd.order_id, order, {"hold_id": cmd.hold_id, "on_hold": bool(order.open_holds)})


def set_hold_rule(cmd: SetHoldRule, uow: UnitOfWork, meta: Meta) -> Handled:
    rules = uow.get(HoldRules, HoldRules.ID) or uow.add(HoldRules.start(meta))
    rule = HoldRule(cmd.kind, cmd.reason, cmd.above, cmd.currency, cmd.channel, cmd.unpaid, cmd.release)
    rules.set_rule(cmd.rule_id, rule, meta)
    return Handled(cmd.rule_id, rules)


def remove_hold_rule(cmd: RemoveHoldRule, uow: UnitOfWork, meta: Meta) -> Handled:
    rules = uow.get(HoldRules, HoldRules.ID)
    if rules is None:
        raise HoldRuleNotFound(f"there is no hold rule {cmd.rule_id!r}")
    rules.remove_rule(cmd.rule_id, meta)
    return Handled(cmd.rule_id, rules)


def hold_by_rules(uow: UnitOfWork, order: Order, meta: Meta) -> None:
    """Hold a newly placed order as the hold rules say; each hold names its rule."""
    rules = uow.get(HoldRules, HoldRules.ID)
    if rules is None or not rules.rules:
        return
    for rule_id, rule in rules.matching(order.total, order.currency, order.channel):
        order.place_hold(f"rule-{rule_id}", rule.kind, rule.reason, meta, rule_id=rule_id, release=rule.release)


def add_order_line(cmd: AddOrderLine, uow: UnitOfWork, meta: Meta) -> Handled:
    order = uow.order(cmd.order_id)
    line = cmd.line
    if line.sku in order.lines:
        raise AlreadyExists(f"order {cmd.order_id!r} has a line for {line.sku!r}; change its quantity instead")
    plan = h.plan(uow, [Demand(line.sku, line.quantity)], order.location_id)
    added = order.add_units([(line.sku, line.quantity, line.unit_price, line.terms())], plan, cmd.reason, meta)
    h.commit(uow, cmd.order_id, added, meta.caused_by(event_ref(order)))
    return _edited(order, added, ())


def change_line_quantity(cmd: ChangeLineQuantity, uow: UnitOfWork, meta: Meta) -> Handled:
    order = uow.order(cmd.order_id)
    line = order.lines.get(cmd.sku)
    more = cmd.quantity - (line.quantity - line.cancelled) if line is not None else 0
    plan = h.plan(uow, [Demand(cmd.sku, more)], order.location_id) if more > 0 else {}
    return _changed(uow, order, cmd.sku, cmd.quantity, reason=cmd.reason, plan=plan, meta=meta)


def remove_order_line(cmd: RemoveOrderLine, uow: UnitOfWork, meta: Meta) -> Handled:
    order = uow.order(cmd.order_id)
    return _changed(uow, order, cmd.sku, 0, reason=cmd.reason, plan={}, meta=meta)


def _changed(uow: UnitOfWork, order: Order, sku: str, quantity: int, *, reason: str, plan: Any, meta: Meta) -> Handled:
    added, cancelled = order.change_quantity(sku, quantity, reason, plan, meta)
    caused = meta.caused_by(event_ref(order))
    h.commit(uow, order.order_id, added, caused)
    h.release(uow, order.order_id, cancelled, reason, caused)
    return _edited(order, added, cancelled)


def _edited(order: Order, added: tuple[AddedLine, ...], cancelled: tuple[CancelledLine, ...]) -> Handled:
    money = order.money
    answer = {
        "status": order.status,
        "payment_status": money.payment_status,
        "stock": h.effects(added, cancelled),
        "subtotal": str(money.subtotal),
        "discounts": str(money.discounts),
        "tax": str(money.tax),
        "total": str(money.total),
        "balance_due": str(money.balance_due),
        "refund_due": str(money.refund_due),
    }
    return Handled(order.order_id, order, answer)


def change_ship_to(cmd: ChangeShipTo, uow: UnitOfWork, meta: Meta) -> Handled:
    order = uow.order(cmd.order_id)
    order.change_ship_to(uow.sealer.seal(order.customer_id, cmd.ship_to), cmd.reason, meta)
    return Handled(cmd.order_id, order, {"status": order.status})


def change_promised_dates(cmd: ChangePromisedDates, uow: UnitOfWork, meta: Meta) -> Handled:
    order = uow.order(cmd.order_id)
    order.change_promises(cmd.promised_ship_by, cmd.promised_delivery_by, cmd.reason, meta)
    return Handled(cmd.order_id, order, {"status": order.status})


def approve_return(cmd: ApproveReturn, uow: UnitOfWork, meta: Meta) -> Handled:
    order = uow.order(cmd.order_id)
    wanted = order.returned(cmd.return_id).replacements
    plan = h.plan(uow, [Demand(r.sku, r.quantity) for r in wanted], order.location_id) if wanted else {}
    added = order.approve_return(cmd.return_id, plan, cmd.reason, meta)
    h.commit(uow, cmd.order_id, added, meta.caused_by(event_ref(order)))
    return _reviewed(order, cmd.return_id, added)


def decline_return(cmd: DeclineReturn, uow: UnitOfWork, meta: Meta) -> Handled:
    order = uow.order(cmd.order_id)
    order.decline_return(cmd.return_id, cmd.reason, meta)
    return _reviewed(order, cmd.return_id, ())


def _reviewed(order: Order, return_id: str, added: tuple[AddedLine, ...]) -> Handled:
    money = order.money
    answer = {
        "return_id": return_id,
        "return_state": order.returns[return_id].status,
        "stock": h.effects(added),
        "total": str(money.total),
        "balance_due": str(money.balance_due),
        "refund_due": str(money.refund_due),
    }
    return Handled(order.order_id, order, answer)


def refund_return(cmd: RefundReturn, uow: UnitOfWork, meta: Meta) -> Handled:
    order = uow.order(cmd.order_id)
    amount = order.approved(cmd.return_id).refund_due if cmd.amount is None else cmd.amount
    order.record_payment(
        PaymentKind.REFUND,
        amount,
        cmd.reference,
        meta,
        provider=cmd.provider,
        return_id=cmd.return_id,
        tolerance_percent=uow.money.over_authorization_percent,
    )
    found = order.returns[cmd.return_id]
    money = order.money
    answer = {
        "return_id": cmd.return_id,
        "return_state": found.status,
        "refunded": str(amount),
        "return_refund_due": str(found.refund_due),
        "payment_status": money.payment_status,
        "refund_due": str(money.refund_due),
    }
    return Handled(cmd.order_id, order, answer)


# --- what each command reads ------------------------------------------------


def order_only_reads(cmd: Any, peek: Peek) -> list[UUID]:
    return [Order.id_for(cmd.order_id)]


def order_customer(cmd: ChangeShipTo, peek: Peek) -> list[str]:
    """Whose key seals the new ship-to: the order's customer's."""
    order = peek(Order.id_for(cmd.order_id))
    return [order.customer_id] if isinstance(order, Order) else []


def hold_rules_reads(cmd: SetHoldRule | RemoveHoldRule, peek: Peek) -> list[UUID]:
    return [HoldRules.ID]


def edit_reads(cmd: AddOrderLine | ChangeLineQuantity | RemoveOrderLine | ApproveReturn, peek: Peek) -> list[UUID]:
    """The order and the directory, then the stock items that may hold the units added (the edited
    SKUs, or an exchange's replacements, at every candidate location) and those holding its units."""
    order = peek(Order.id_for(cmd.order_id))
    if not isinstance(order, Order):
        return [Order.id_for(cmd.order_id), LocationDirectory.ID]
    ranked = [order.location_id] if order.location_id else h.ranked_in(peek(LocationDirectory.ID))
    if isinstance(cmd, AddOrderLine):
        skus = [cmd.line.sku]
    elif isinstance(cmd, ApproveReturn):
        found = order.returns.get(cmd.return_id)
        skus = [r.sku for r in found.replacements] if found else []
    else:
        skus = [cmd.sku]
    held = [
        StockItemId for sku, line in order.lines.items() for StockItemId in h.stock_reads([sku], list(line.allocations))
    ]
    return [Order.id_for(cmd.order_id), LocationDirectory.ID, *h.stock_reads(skus, ranked), *held]
