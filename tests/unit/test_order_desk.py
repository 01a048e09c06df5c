"""The order desk through the Ledger, on the in-memory event store: holds and hold rules, edits,
dry runs, and the review of returns and exchanges."""

from __future__ import annotations

from decimal import Decimal

import pytest

from commands import messages as m
from commands.contracts import CommandContext
from commands.ledger import Ledger
from domain.errors import (
    AlreadyExists,
    AlreadyShipped,
    HoldNotFound,
    HoldRuleNotFound,
    InsufficientStock,
    InvalidCommand,
    InvalidTransition,
    OrderOnHold,
    RefundExceedsReturn,
    ReturnNotApproved,
    StaleVersion,
)
from domain.order_records import HoldKind, HoldRelease
from domain.payments import PaymentKind
from domain.pricing import TaxRate
from domain.stock import Disposition
from tests.helpers import execute, item, order, place, receive


def hold(ledger: Ledger, order_id: str, hold_id: str = "h1", kind: HoldKind = HoldKind.FRAUD) -> None:
    execute(ledger, m.PlaceHold(order_id=order_id, hold_id=hold_id, kind=kind, reason="looks odd"))


def ship(ledger: Ledger, order_id: str, shipment_id: str = "s1") -> None:
    execute(ledger, m.ShipOrder(order_id=order_id, shipment_id=shipment_id))


def pay(ledger: Ledger, order_id: str, amount: str) -> None:
    execute(ledger, m.RecordPayment(order_id=order_id, kind=PaymentKind.CAPTURE, amount=Decimal(amount)))


# --- holds -----------------------------------------------------------------------


def test_an_open_hold_refuses_shipping_until_it_is_released(stocked: Ledger) -> None:
    place(stocked, [("A", 2)], order_id="o1")
    hold(stocked, "o1")
    with pytest.raises(OrderOnHold) as refused:
        ship(stocked, "o1")
    assert refused.value.code == "order_on_hold" and refused.value.extra["holds"] == ["h1"]
    assert item(stocked, "A", "main").committed == 2  # nothing moved
    execute(stocked, m.ReleaseHold(order_id="o1", hold_id="h1", reason="customer verified"))
    ship(stocked, "o1")
    released = order(stocked, "o1").holds["h1"]
    assert (released.is_open, released.release_reason, released.released_by) == (False, "customer verified", "system")


def test_holds_are_refused_when_unknown_twice_released_or_with_nothing_to_ship(stocked: Ledger) -> None:
    place(stocked, [("A", 1)], order_id="o1")
    with pytest.raises(HoldNotFound):
        execute(stocked, m.ReleaseHold(order_id="o1", hold_id="nope", reason="x"))
    hold(stocked, "o1")
    with pytest.raises(AlreadyExists):
        hold(stocked, "o1")  # the same id
    execute(stocked, m.ReleaseHold(order_id="o1", hold_id="h1", reason="ok"))
    with pytest.raises(InvalidTransition):
        execute(stocked, m.ReleaseHold(order_id="o1", hold_id="h1", reason="again"))
    with pytest.raises(InvalidCommand):
        execute(stocked, m.PlaceHold(order_id="o1", hold_id="h2", kind=HoldKind.MANUAL, reason="   "))
    ship(stocked, "o1")
    with pytest.raises(InvalidTransition):
        hold(stocked, "o1", "h3")


def test_hold_rules_hold_orders_above_an_amount_and_from_a_channel_naming_the_rule(stocked: Ledger) -> None:
    execute(stocked, m.SetHoldRule(rule_id="big", kind=HoldKind.FRAUD, reason="big", above=Decimal("10.00"),
                                   currency="GBP"))  # fmt: skip
    execute(stocked, m.SetHoldRule(rule_id="fax", kind=HoldKind.MANUAL, reason="fax orders", channel="fax"))
    small = place(stocked, [("A", 1, "10.00")], order_id="small")
    big = place(stocked, [("A", 1, "10.01")], order_id="big")
    faxed = place(stocked, [("A", 1)], order_id="faxed", channel="fax")
    other_currency = place(stocked, [("A", 1, "99.00")], order_id="eur", currency="EUR")
    assert "on_hold" not in small.extra and "on_hold" not in other_currency.extra
    assert big.extra["on_hold"] and faxed.extra["on_hold"]
    assert {k: (h.rule_id, h.kind) for k, h in order(stocked, "big").holds.items()} == {
        "rule-big": ("big", HoldKind.FRAUD)
    }
    assert list(order(stocked, "faxed").holds) == ["rule-fax"]
    execute(stocked, m.RemoveHoldRule(rule_id="big"))
    assert not order(stocked, "big").holds["rule-big"].released_at  # its holds stay
    assert "on_hold" not in place(stocked, [("A", 1, "50.00")], order_id="big2").extra
    with pytest.raises(HoldRuleNotFound):
        execute(stocked, m.RemoveHoldRule(rule_id="big"))


def test_a_hold_rule_needs_a_condition_and_a_currency_with_its_amount(stocked: Ledger) -> None:
    with pytest.raises(InvalidCommand):
        execute(stocked, m.SetHoldRule(rule_id="r", kind=HoldKind.MANUAL, reason="all"))
    with pytest.raises(InvalidCommand):
        execute(stocked, m.SetHoldRule(rule_id="r", kind=HoldKind.MANUAL, reason="x", above=Decimal(1)))


def test_an_unpaid_hold_lets_go_by_itself_once_the_order_is_paid(stocked: Ledger) -> None:
    execute(stocked, m.SetHoldRule(rule_id="pay", kind=HoldKind.PAYMENT, reason="wait for payment", unpaid=True,
                                   release=HoldRelease.PAID))  # fmt: skip
    place(stocked, [("A", 2, "5.00")], order_id="o1")
    hold(stocked, "o1", "manual")  # a person's hold does not let go by itself
    pay(stocked, "o1", "6.00")
    assert order(stocked, "o1").holds["rule-pay"].is_open  # part paid
    pay(stocked, "o1", "4.00")
    holds = order(stocked, "o1").holds
    assert not holds["rule-pay"].is_open and holds["rule-pay"].release_reason == "paid"
    assert holds["manual"].is_open
    with pytest.raises(OrderOnHold):
        ship(stocked, "o1")


# --- edits -----------------------------------------------------------------------


def test_raising_a_quantity_holds_stock_like_placing_and_lowering_it_lets_go(stocked: Ledger) -> None:
    place(stocked, [("A", 2, "3.00")], order_id="o1")
    up = execute(stocked, m.ChangeLineQuantity(order_id="o1", sku="A", quantity=5, reason="customer wants more"))
    assert up.extra["total"] == "15.00" and up.extra["balance_due"] == "15.00"
    assert up.extra["stock"] == [{"sku": "A", "location_id": "main", "committed": 3, "backordered": 0}]
    assert item(stocked, "A", "main").committed == 5
    down = execute(stocked, m.ChangeLineQuantity(order_id="o1", sku="A", quantity=1, reason="fewer"))
    assert down.extra["total"] == "3.00"
    assert down.extra["stock"] == [{"sku": "A", "location_id": "main", "committed": -4, "backordered": 0}]
    assert item(stocked, "A", "main").committed == 1
    line = order(stocked, "o1").lines["A"]
    assert (line.quantity, line.cancelled, line.committed) == (5, 4, 1)


def test_an_increase_is_never_oversold_and_a_refused_edit_writes_nothing(stocked: Ledger) -> None:
    place(stocked, [("A", 8)], order_id="o1")
    version = order(stocked, "o1").version
    with pytest.raises(InsufficientStock):
        execute(stocked, m.ChangeLineQuantity(order_id="o1", sku="A", quantity=11, reason="more"))
    assert order(stocked, "o1").version == version
    assert item(stocked, "A", "main").available == 2


def test_adding_a_line_prices_it_by_its_terms_and_removing_one_lets_it_go(stocked: Ledger) -> None:
    place(stocked, [("A", 1, "10.00")], order_id="o1")
    line = m.OrderLine(sku="B", quantity=2, unit_price=Decimal("5.00"), taxes=(TaxRate("VAT", Decimal("0.2")),))
    added = execute(stocked, m.AddOrderLine(order_id="o1", line=line, reason="added by phone"))
    assert (added.extra["tax"], added.extra["total"]) == ("2.00", "22.00")
    assert item(stocked, "B", "main").committed == 2
    more = execute(stocked, m.ChangeLineQuantity(order_id="o1", sku="B", quantity=3, reason="one more"))
    assert (more.extra["tax"], more.extra["total"]) == ("3.00", "28.00")  # the line's rate, on the added unit
    removed = execute(stocked, m.RemoveOrderLine(order_id="o1", sku="B", reason="never mind"))
    assert removed.extra["total"] == "10.00" and item(stocked, "B", "main").committed == 0
    with pytest.raises(InvalidCommand):
        execute(stocked, m.RemoveOrderLine(order_id="o1", sku="A", reason="the last line"))


def test_edits_are_refused_for_lines_that_have_shipped(stocked: Ledger) -> None:
    place(stocked, [("A", 2), ("B", 1)], order_id="o1")
    execute(stocked, m.ShipOrder(order_id="o1", shipment_id="s1", lines=(m.LineQuantity(sku="A", quantity=1),)))
    for edit in (
        m.ChangeLineQuantity(order_id="o1", sku="A", quantity=3, reason="x"),
        m.RemoveOrderLine(order_id="o1", sku="A", reason="x"),
    ):
        with pytest.raises(AlreadyShipped) as refused:
            execute(stocked, edit)
        assert refused.value.code == "already_shipped"
    execute(stocked, m.ChangeLineQuantity(order_id="o1", sku="B", quantity=2, reason="unshipped line"))


def test_a_dry_run_answers_the_new_totals_and_writes_nothing(stocked: Ledger) -> None:
    place(stocked, [("A", 2, "3.00")], order_id="o1")
    before = order(stocked, "o1").version
    dry = execute(
        stocked,
        m.ChangeLineQuantity(order_id="o1", sku="A", quantity=4, reason="what if"),
        CommandContext(dry_run=True),
    )
    assert dry.extra["dry_run"] and dry.extra["total"] == "12.00" and dry.position is None
    assert dry.version == before + 1  # the version it would have
    assert order(stocked, "o1").version == before and item(stocked, "A", "main").committed == 2


def test_if_match_guards_edits_as_every_command(stocked: Ledger) -> None:
    place(stocked, [("A", 2)], order_id="o1")
    with pytest.raises(StaleVersion):
        execute(
            stocked,
            m.ChangeLineQuantity(order_id="o1", sku="A", quantity=3, reason="x"),
            CommandContext(expected_version=7),
        )


def test_ship_to_and_promised_dates_change_with_a_reason(stocked: Ledger) -> None:
    place(stocked, [("A", 1)], order_id="o1", ship_to={"name": "Ada", "line1": "1 Old St"})
    sealed = order(stocked, "o1").personal_data
    execute(stocked, m.ChangeShipTo(order_id="o1", ship_to={"name": "Ada", "line1": "2 New St"}, reason="moved"))
    changed = order(stocked, "o1").personal_data
    assert changed and changed != sealed
    assert stocked.personal_data.reveal("cust-1", changed).data == {"name": "Ada", "line1": "2 New St"}
    with pytest.raises(InvalidCommand):
        execute(stocked, m.ChangePromisedDates(order_id="o1", reason=" "))
    ship(stocked, "o1")
    with pytest.raises(AlreadyShipped):
        execute(stocked, m.ChangeShipTo(order_id="o1", ship_to={"name": "Ada"}, reason="too late"))


# --- return review and exchanges ----------------------------------------------------


def shipped_order(ledger: Ledger, lines: list[tuple[str, int, str]]) -> None:
    place(ledger, lines, order_id="o1")
    pay(ledger, "o1", str(sum(Decimal(price) * quantity for _, quantity, price in lines)))
    ship(ledger, "o1")


def test_a_requested_return_is_received_only_once_approved(stocked: Ledger) -> None:
    shipped_order(stocked, [("A", 2, "4.00")])
    asked = execute(stocked, m.RequestReturn(order_id="o1", return_id="r1", approve=False,
                                             lines=(m.ReturnLine(sku="A", quantity=1, reason="too big"),)))  # fmt: skip
    assert asked.extra["return_state"] == "requested"
    back = (m.ReturnReceiptLine(sku="A", quantity=1, disposition=Disposition.RESTOCK),)
    receipt = m.ReceiveReturn(order_id="o1", return_id="r1", location_id="main", lines=back)
    with pytest.raises(ReturnNotApproved):
        execute(stocked, receipt)
    execute(stocked, m.ApproveReturn(order_id="o1", return_id="r1"))
    with pytest.raises(InvalidTransition):
        execute(stocked, m.DeclineReturn(order_id="o1", return_id="r1", reason="changed our mind"))
    execute(stocked, receipt)
    assert order(stocked, "o1").returns["r1"].status == "received"
    with pytest.raises(RefundExceedsReturn):
        execute(stocked, m.RefundReturn(order_id="o1", return_id="r1", amount=Decimal("4.01")))
    refunded = execute(stocked, m.RefundReturn(order_id="o1", return_id="r1"))
    assert (refunded.extra["refunded"], refunded.extra["return_state"]) == ("4.00", "refunded")


def test_a_declined_return_frees_its_units_to_be_asked_for_again(stocked: Ledger) -> None:
    shipped_order(stocked, [("A", 2, "4.00")])
    lines = (m.ReturnLine(sku="A", quantity=2, reason="no"),)
    execute(stocked, m.RequestReturn(order_id="o1", return_id="r1", approve=False, lines=lines))
    execute(stocked, m.DeclineReturn(order_id="o1", return_id="r1", reason="worn"))
    assert order(stocked, "o1").returns["r1"].status == "declined"
    assert order(stocked, "o1").lines["A"].return_requested == 0
    with pytest.raises(ReturnNotApproved):
        execute(stocked, m.RefundReturn(order_id="o1", return_id="r1", amount=Decimal(1)))
    execute(stocked, m.RequestReturn(order_id="o1", return_id="r2", lines=lines))


def test_an_exchange_holds_its_replacements_when_approved_and_the_difference_is_due(stocked: Ledger) -> None:
    shipped_order(stocked, [("A", 1, "4.00")])
    exchange = m.RequestReturn(
        order_id="o1",
        return_id="r1",
        approve=False,
        lines=(m.ReturnLine(sku="A", quantity=1, reason="wrong size"),),
        replacements=(m.OrderLine(sku="B", quantity=1, unit_price=Decimal("6.00")),),
    )
    execute(stocked, exchange)
    assert item(stocked, "B", "main").committed == 0  # held once approved
    approved = execute(stocked, m.ApproveReturn(order_id="o1", return_id="r1", reason="ok"))
    assert approved.extra["stock"] == [{"sku": "B", "location_id": "main", "committed": 1, "backordered": 0}]
    assert approved.extra["balance_due"] == "6.00"  # the return is not received yet
    execute(stocked, m.ReceiveReturn(order_id="o1", return_id="r1", location_id="main",
                                     lines=(m.ReturnReceiptLine(sku="A", quantity=1,
                                                                disposition=Disposition.RESTOCK),)))  # fmt: skip
    money = order(stocked, "o1").money
    assert (money.balance_due, money.refund_due) == (Decimal("2.00"), Decimal(0))
    ship(stocked, "o1", "s2")  # replacements ship like any line
    assert order(stocked, "o1").lines["B"].shipped == 1


def test_an_exchange_for_the_same_sku_grows_its_line_and_is_never_oversold(stocked: Ledger) -> None:
    shipped_order(stocked, [("A", 10, "1.00")])  # every A at main is gone
    exchange = m.RequestReturn(
        order_id="o1",
        return_id="r1",
        lines=(m.ReturnLine(sku="A", quantity=1, reason="broken"),),
        replacements=(m.OrderLine(sku="A", quantity=1, unit_price=Decimal("1.00")),),
    )
    with pytest.raises(InsufficientStock):
        execute(stocked, exchange)
    assert "r1" not in order(stocked, "o1").returns
    receive(stocked, "A", "store", 1)
    execute(stocked, exchange)
    line = order(stocked, "o1").lines["A"]
    assert (line.quantity, line.shipped, line.committed, list(line.allocations)) == (11, 10, 1, ["store"])
    with pytest.raises(InvalidCommand):
        execute(stocked, m.RequestReturn(order_id="o1", return_id="r2",
                                         lines=(m.ReturnLine(sku="A", quantity=1, reason="x"),),
                                         replacements=(m.OrderLine(sku="A", quantity=1,
                                                                   unit_price=Decimal("2.00")),)))  # fmt: skip
