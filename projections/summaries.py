"""One plain sentence per event, for people reading a timeline or an audit trail."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from domain.hold_rules import HoldRules
from domain.locations import Location, LocationDirectory
from domain.orders import Order
from domain.stock import StockItem
from domain.transfers import Transfer


class _Units(Protocol):
    @property
    def sku(self) -> str: ...
    @property
    def quantity(self) -> int: ...


def _units(lines: Sequence[_Units]) -> str:
    return ", ".join(f"{line.quantity} x {line.sku}" for line in lines)


def summarize(event: Any, label: str, places: dict[str, str], where: str = "") -> str:
    """``label`` names the stream (``Order 1001``, or a stock item's SKU); ``where`` is a stock item's place."""

    def at(location_id: str) -> str:
        return places.get(location_id, location_id)

    match event:
        case Order.Placed():
            units = sum(line.quantity for line in event.lines)
            return (
                f"{label} placed on {event.channel} by customer {event.customer_id}: {len(event.lines)} lines, "
                f"{units} units, {event.currency}"
            )
        case Order.PaymentAuthorized():
            return f"{label}: payment of {event.amount} authorized{_at_provider(event)}"
        case Order.PaymentCaptured():
            return f"{label}: payment of {event.amount} captured{_at_provider(event)}"
        case Order.PaymentVoided():
            return f"{label}: authorization of {event.amount} voided{_at_provider(event)}"
        case Order.PaymentRefunded():
            paid = f" for return {event.return_id}" if event.return_id else ""
            return f"{label}: {event.amount} refunded{paid}{_at_provider(event)}"
        case Order.Cancelled():
            return f"{label}: cancelled {_units(event.lines)} ({event.reason})"
        case Order.Shipped():
            shipped = _units(event.lines)
            carrier = f" by {event.carrier}" if event.carrier else ""
            tracking = f", tracking {event.tracking_number}" if event.tracking_number else ""
            return f"{label}: shipment {event.shipment_id} of {shipped} left {at(event.location_id)}{carrier}{tracking}"
        case Order.Delivered():
            return f"{label}: shipment {event.shipment_id} delivered"
        case Order.ReturnRequested():
            return f"{label}: return {event.return_id} requested for {_units(event.lines)}"
        case Order.NoteAdded():
            return f"{label}: note by {event.actor}: {event.text}"
        case Order.ReturnReceived():
            fee = f", restocking fee {event.restocking_fee}" if event.restocking_fee else ""
            return f"{label}: return {event.return_id} received at {at(event.location_id)}: {_units(event.lines)}{fee}"
        case StockItem.Opened():
            return f"{event.sku} first recorded at {at(event.location_id)}"
        case StockItem.Committed():
            backordered = f" ({event.backordered} backordered)" if event.backordered else ""
            return f"{event.quantity} x {label} committed at {where} to order {event.order_id}{backordered}"
        case StockItem.Released():
            return f"{event.quantity} x {label} released at {where} from order {event.order_id} ({event.reason})"
        case StockItem.Shipped():
            return f"{event.quantity} x {label} shipped from {where} for order {event.order_id}"
        case StockItem.Restocked():
            into = "back into stock" if event.to_bucket == "available" else "as damaged"
            return f"{event.quantity} x {label} returned {into} at {where} from order {event.order_id}"
        case StockItem.Received():
            reference = f" ({event.reference})" if event.reference else ""
            return f"{event.quantity} x {label} received at {where}{reference}"
        case StockItem.Adjusted():
            sign = "-" if event.from_bucket == "available" else "+"
            counted = f", counted {event.counted_quantity}" if event.counted_quantity is not None else ""
            return f"{label} at {where} adjusted {sign}{event.quantity} ({event.reason}{counted})"
        case StockItem.Moved():
            return f"{event.quantity} x {label} moved from {event.from_bucket} to {event.to_bucket} at {where}"
        case StockItem.TransferredOut():
            return f"{event.quantity} x {label} sent from {where} on transfer {event.transfer_id}"
        case StockItem.TransferExpected():
            return f"{event.quantity} x {label} expected at {where} from transfer {event.transfer_id}"
        case StockItem.TransferredIn():
            return f"{event.quantity} x {label} received at {where} from transfer {event.transfer_id}"
        case StockItem.PolicySet():
            return (
                f"{label} at {where} policy: reorder at {event.reorder_point} (quantity {event.reorder_quantity}), "
                f"safety stock {event.safety_stock}, backorders {'allowed' if event.allow_backorder else 'off'}"
            )
        case Location.Registered():
            return f"location {event.location_id} registered: {event.name} ({event.kind}, priority {event.priority})"
        case LocationDirectory.Started():
            return "location directory started"
        case LocationDirectory.LocationAdded():
            return f"location {event.location_id} ranked at priority {event.priority}"
        case Transfer.Dispatched():
            return (
                f"transfer {event.transfer_id}: {event.quantity} x {event.sku} from "
                f"{at(event.from_location_id)} to {at(event.to_location_id)}"
            )
        case Transfer.Received():
            return f"{label}: {event.quantity} units received"
    return _desk(event, label) or f"{label}: {type(event).__name__}"


def _desk(event: Any, label: str) -> str | None:
    """The order desk's events and the hold rules'."""
    match event:
        case Order.HoldPlaced():
            rule = f" by rule {event.rule_id}" if event.rule_id else ""
            return f"{label}: {event.kind} hold {event.hold_id} placed{rule} ({event.reason})"
        case Order.HoldReleased():
            how = "released by itself" if event.automatic else "released"
            return f"{label}: hold {event.hold_id} {how} ({event.reason})"
        case Order.LinesAdded():
            return f"{label}: added {_units(event.lines)} ({event.reason})"
        case Order.ShipToChanged():
            return f"{label}: ship-to changed ({event.reason})"
        case Order.PromisesChanged():
            ship_by = event.promised_ship_by.isoformat() if event.promised_ship_by else "none"
            return f"{label}: promised ship-by now {ship_by} ({event.reason})"
        case Order.ReturnApproved():
            instead = f", sending {_units(event.replacements)} instead" if event.replacements else ""
            return f"{label}: return {event.return_id} approved{instead}"
        case Order.ReturnDeclined():
            return f"{label}: return {event.return_id} declined ({event.reason})"
        case HoldRules.Started():
            return "hold rules started"
        case HoldRules.RuleSet():
            return f"hold rule {event.rule_id} set: {event.rule.kind.value} hold ({event.rule.reason})"
        case HoldRules.RuleRemoved():
            return f"hold rule {event.rule_id} removed"
    return None


def stream_label(event: Any) -> tuple[str, str] | None:
    """The kind and label a stream's first event gives it."""
    match event:
        case Order.Placed():
            return "order", f"Order {event.order_id}"
        case StockItem.Opened():
            return "stock_item", event.sku
        case Location.Registered():
            return "location", event.name
        case Transfer.Dispatched():
            return "transfer", f"Transfer {event.transfer_id}"
        case LocationDirectory.Started():
            return "location_directory", "Location directory"
        case HoldRules.Started():
            return "hold_rules", "Hold rules"
    return None


def _at_provider(event: Any) -> str:
    named = [part for part in (event.provider, event.reference) if part]
    return f" ({' '.join(named)})" if named else ""
