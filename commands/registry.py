"""Every command, declared once: its message, handler, reads, REST route and the events it records.

The pipeline finds handlers and reads here; the API builds each command's route from ``route``
and finds its body schema by the message it makes; the import takes each command by ``name``;
the audit projection has a sentence for every event in ``records``. A test fails if any command
lacks one of its parts (``tests/unit/test_registry.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any
from uuid import UUID

from commands import messages as m
from commands.handlers import Handler, Peek, Reads
from commands.handlers import desk as d
from commands.handlers import inventory as inv
from commands.handlers import locations as loc
from commands.handlers import orders as o
from domain.base import LedgerAggregate
from domain.hold_rules import HoldRules
from domain.locations import Location, LocationDirectory
from domain.orders import Order
from domain.stock import StockItem
from domain.transfers import Transfer


@dataclass(frozen=True, slots=True)
class Route:
    """Where the command is sent over REST. ``path`` names its path parameters as the message's
    fields; ``location``, where the 201's ``Location`` header points (``{id}`` is the result's id,
    other names are path parameters or fields of the answer)."""

    method: str
    path: str
    tag: str
    status: int = 200
    location: str | None = None

    def parameters(self) -> list[str]:
        return re.findall(r"{(\w+)}", self.path)


@dataclass(frozen=True, slots=True)
class NewStream:
    """A stream the command starts under an id the ledger generates when the caller gives none:
    nothing is looked for there (a clash would still fail the save, as any conflict does)."""

    field: str
    stream: Callable[[Any], UUID]


@dataclass(frozen=True, slots=True)
class CommandSpec:
    message: type[m.Command]
    handler: Handler
    reads: Reads
    route: Route
    summary: str
    records: tuple[type[LedgerAggregate.Event], ...]
    new_stream: NewStream | None = None
    # The customers whose keys sealing needs, fetched after the prefetch's streams.
    customers: Callable[[Any, Peek], list[str]] | None = None
    # Who may send it, beside admins (the API's roles, by name).
    roles: tuple[str, ...] = ("integrator",)

    @property
    def name(self) -> str:
        """The command's name in imports and metrics: the message's name in snake case."""
        return re.sub(r"(?<!^)(?=[A-Z])", "_", self.message.__name__).lower()


def _orders(path: str = "") -> str:
    return f"/v1/orders{path}"


def _inventory(path: str) -> str:
    return f"/v1/inventory{path}"


_STOCK_MOVES = (StockItem.Opened,)
# Commands support sends from the order desk, beside integrators.
_DESK = ("integrator", "support")
_EDIT = "An edit, with a reason; refused with `already_shipped` for lines that have shipped units. "


def _desk_commands() -> tuple[CommandSpec, ...]:
    return (
        CommandSpec(
            m.PlaceHold,
            d.place_hold,
            d.order_only_reads,
            Route("POST", _orders("/{order_id}/holds"), "orders", 201, _orders("/{order_id}/holds/{hold_id}")),
            "Hold the order (payment, fraud, address, inventory or manual, with a reason): while any hold is "
            "open, shipping is refused with `order_on_hold`.",
            (Order.HoldPlaced,),
            roles=_DESK,
        ),
        CommandSpec(
            m.ReleaseHold,
            d.release_hold,
            d.order_only_reads,
            Route("POST", _orders("/{order_id}/holds/{hold_id}/release"), "orders"),
            "Release a hold, with a reason.",
            (Order.HoldReleased,),
            roles=_DESK,
        ),
        CommandSpec(
            m.SetHoldRule,
            d.set_hold_rule,
            d.hold_rules_reads,
            Route("PUT", "/v1/hold-rules/{rule_id}", "hold rules"),
            "Create or replace a hold rule: orders placed above an amount, from a channel, or unpaid go on hold, "
            "the hold naming the rule; `release: paid` lets the hold go once the order is paid.",
            (HoldRules.Started, HoldRules.RuleSet),
            roles=(),
        ),
        CommandSpec(
            m.RemoveHoldRule,
            d.remove_hold_rule,
            d.hold_rules_reads,
            Route("DELETE", "/v1/hold-rules/{rule_id}", "hold rules"),
            "Remove a hold rule; holds it placed stay until released.",
            (HoldRules.RuleRemoved,),
            roles=(),
        ),
        CommandSpec(
            m.AddOrderLine,
            d.add_order_line,
            d.edit_reads,
            Route("POST", _orders("/{order_id}/lines"), "order edits", 201, _orders("/{order_id}")),
            _EDIT + "Add a line, held like a placed one (never oversold); the order's total grows by it.",
            (Order.LinesAdded, StockItem.Committed),
            roles=_DESK,
        ),
        CommandSpec(
            m.ChangeLineQuantity,
            d.change_line_quantity,
            d.edit_reads,
            Route("PUT", _orders("/{order_id}/lines/{sku}/quantity"), "order edits"),
            _EDIT + "Set the units ordered on a line: more are held like placed units, fewer are let go of "
            "(and the open authorization no longer needed is voided).",
            (Order.LinesAdded, StockItem.Committed, Order.Cancelled, StockItem.Released, Order.PaymentVoided),
            roles=_DESK,
        ),
        CommandSpec(
            m.RemoveOrderLine,
            d.remove_order_line,
            d.edit_reads,
            Route("DELETE", _orders("/{order_id}/lines/{sku}"), "order edits"),
            _EDIT + "Remove a line: its units are let go of.",
            (Order.Cancelled, StockItem.Released, Order.PaymentVoided),
            roles=_DESK,
        ),
        CommandSpec(
            m.ChangeShipTo,
            d.change_ship_to,
            d.order_only_reads,
            Route("PUT", _orders("/{order_id}/ship-to"), "order edits"),
            "Change where the order goes, sealed like the original; refused once nothing is left to ship.",
            (Order.ShipToChanged,),
            customers=d.order_customer,
            roles=_DESK,
        ),
        CommandSpec(
            m.ChangePromisedDates,
            d.change_promised_dates,
            d.order_only_reads,
            Route("PUT", _orders("/{order_id}/promised-dates"), "order edits"),
            "Change the promised ship-by and delivery-by times, with a reason.",
            (Order.PromisesChanged,),
            roles=_DESK,
        ),
        CommandSpec(
            m.ApproveReturn,
            d.approve_return,
            d.edit_reads,
            Route("POST", _orders("/{order_id}/returns/{return_id}/approval"), "returns"),
            "Approve a requested return; an exchange's replacements are held now, like an order's lines.",
            (Order.ReturnApproved, StockItem.Committed),
            roles=_DESK,
        ),
        CommandSpec(
            m.DeclineReturn,
            d.decline_return,
            d.order_only_reads,
            Route("POST", _orders("/{order_id}/returns/{return_id}/decline"), "returns"),
            "Decline a requested return, with a reason; its units may be asked for again.",
            (Order.ReturnDeclined,),
            roles=_DESK,
        ),
        CommandSpec(
            m.RefundReturn,
            d.refund_return,
            d.order_only_reads,
            Route("POST", _orders("/{order_id}/returns/{return_id}/refund"), "returns"),
            "Refund a received return what it is owed (or `amount` of it), naming the return.",
            (Order.PaymentRefunded,),
        ),
    )


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        m.RegisterLocation,
        loc.register_location,
        loc.register_location_reads,
        Route("POST", "/v1/locations", "locations", 201),
        "Register a location where stock is kept; its priority ranks it for sourcing.",
        (Location.Registered, LocationDirectory.Started, LocationDirectory.LocationAdded),
    ),
    CommandSpec(
        m.ReceiveStock,
        inv.receive_stock,
        inv.stock_item_reads,
        Route("POST", _inventory("/receipts"), "inventory"),
        "Receive units from a supplier into `available`.",
        (*_STOCK_MOVES, StockItem.Received),
    ),
    CommandSpec(
        m.AdjustStock,
        inv.adjust_stock,
        inv.stock_item_reads,
        Route("POST", _inventory("/adjustments"), "inventory"),
        "Adjust by a `delta`, or to a `counted_quantity` of on-hand units.",
        (*_STOCK_MOVES, StockItem.Adjusted),
    ),
    CommandSpec(
        m.MoveStock,
        inv.move_stock,
        inv.stock_item_reads,
        Route("POST", _inventory("/moves"), "inventory"),
        "Move units between available, damaged, quality_control and safety_stock.",
        (StockItem.Moved,),
    ),
    CommandSpec(
        m.TransferStock,
        inv.transfer_stock,
        inv.transfer_stock_reads,
        Route("POST", _inventory("/transfers"), "inventory", 201, location=_inventory("/transfers/{id}")),
        "Send units to another location; they show as `incoming` there until received.",
        (*_STOCK_MOVES, Transfer.Dispatched, StockItem.TransferredOut, StockItem.TransferExpected),
        NewStream("transfer_id", lambda cmd: Transfer.id_for(cmd.transfer_id)),
    ),
    CommandSpec(
        m.ReceiveTransfer,
        inv.receive_transfer,
        inv.receive_transfer_reads,
        Route("POST", _inventory("/transfers/{transfer_id}/receipt"), "inventory"),
        "Receive a transfer, whole or in part.",
        (Transfer.Received, StockItem.TransferredIn),
    ),
    CommandSpec(
        m.SetStockPolicy,
        inv.set_stock_policy,
        inv.stock_item_reads,
        Route("PUT", _inventory("/{sku}/{location_id}/policy"), "inventory"),
        "Set reorder point and quantity, safety stock and whether backorders are allowed.",
        (*_STOCK_MOVES, StockItem.PolicySet),
    ),
    CommandSpec(
        m.PlaceOrder,
        o.place_order,
        o.place_order_reads,
        Route("POST", _orders(), "orders", 201, location=_orders("/{id}")),
        "Place an order and commit stock for every line, in one transaction.\n\n"
        "Lines that cannot be committed are backordered where the item allows it; otherwise the order "
        "fails with `insufficient_stock` naming the SKUs, and nothing is written.",
        (Order.Placed, StockItem.Committed, Order.HoldPlaced),
        NewStream("order_id", lambda cmd: Order.id_for(cmd.order_id)),
        customers=lambda cmd, peek: [cmd.customer_id] if cmd.ship_to else [],
    ),
    CommandSpec(
        m.RecordPayment,
        o.record_payment,
        o.order_reads,
        Route("POST", _orders("/{order_id}/payments"), "orders"),
        "Record an authorization, capture, void or refund within the order's limits "
        "(refunded <= captured <= authorized <= amount owed + tolerance); each refusal is a 409 naming its limit. "
        "A capture that pays the order releases the holds that wait for payment.",
        (
            Order.PaymentAuthorized,
            Order.PaymentCaptured,
            Order.PaymentVoided,
            Order.PaymentRefunded,
            Order.HoldReleased,
        ),
    ),
    CommandSpec(
        m.CancelOrder,
        o.cancel_order,
        o.held_stock_reads,
        Route("POST", _orders("/{order_id}/cancellation"), "orders"),
        "Cancel the whole order, or some line quantities; committed stock is released, the open "
        "authorization no longer needed is voided, and with `refund: true` what was paid beyond the new "
        "amount owed is refunded.",
        (Order.Cancelled, StockItem.Released, Order.PaymentVoided, Order.PaymentRefunded),
        roles=_DESK,
    ),
    CommandSpec(
        m.ShipOrder,
        o.ship_order,
        o.held_stock_reads,
        Route("POST", _orders("/{order_id}/shipments"), "orders", 201, _orders("/{order_id}/shipments/{shipment_id}")),
        "Ship from one location; without lines, every committed unit held there. Refused with "
        "`order_on_hold` while a hold is open.",
        (Order.Shipped, StockItem.Shipped),
    ),
    CommandSpec(
        m.DeliverShipment,
        o.deliver_shipment,
        o.order_reads,
        Route("POST", _orders("/{order_id}/shipments/{shipment_id}/delivery"), "orders"),
        "Record that a shipment was delivered.",
        (Order.Delivered,),
    ),
    CommandSpec(
        m.RequestReturn,
        o.request_return,
        o.request_return_reads,
        Route("POST", _orders("/{order_id}/returns"), "orders", 201, _orders("/{order_id}/returns/{return_id}")),
        "Open a return for shipped units: approved at once, or with `approve: false` requested, to be approved "
        "or declined. `replacements` make it an exchange: they are held like an order's lines once it is approved.",
        (Order.ReturnRequested, Order.ReturnApproved, StockItem.Committed),
    ),
    CommandSpec(
        m.ReceiveReturn,
        o.receive_return,
        o.receive_return_reads,
        Route("POST", _orders("/{order_id}/returns/{return_id}/receipt"), "orders"),
        "Receive returned units at a location, restocked or set aside as damaged. The receipt credits the "
        "units' share of price, discounts and tax (and with `refund_shipping` of the shipping), less a "
        "restocking fee; with `refund: true` it refunds that, naming the return.",
        (Order.ReturnReceived, *_STOCK_MOVES, StockItem.Restocked, Order.PaymentRefunded),
    ),
    CommandSpec(
        m.AddOrderNote,
        o.add_order_note,
        o.order_reads,
        Route("POST", _orders("/{order_id}/notes"), "orders", 201, _orders("/{order_id}/notes/{note}")),
        "Add a note to the order for the people who handle it (support, the warehouse); the timeline shows it.",
        (Order.NoteAdded,),
        roles=_DESK,
    ),
    *_desk_commands(),
)

SPECS: Mapping[type[m.Command], CommandSpec] = {spec.message: spec for spec in COMMANDS}
BY_NAME: Mapping[str, CommandSpec] = {spec.name: spec for spec in COMMANDS}


@cache
def event_types() -> frozenset[str]:
    """Every event type the ledger records (``Order.Shipped``, ``StockItem.Committed`` ...)."""
    return frozenset(cls.__qualname__ for spec in COMMANDS for cls in spec.records)
