"""What the order desk reads back: an order's shipments, returns, payments, holds and notes (each
also in the order's answer), and the hold rules. The 201 of each command that makes one points here."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel

from api.deps import ContainerDep, require
from api.errors import READ_ERRORS
from api.keys import Principal, Role
from api.reads import MinPosition, ReadConnection, Reader, caught_up
from api.routers.paths import HoldIdPath, OrderIdPath, ReturnIdPath, ShipmentIdPath
from domain.errors import HoldNotFound, NotFound, ReturnNotFound, ShipmentNotFound
from queries import orders
from queries.desk_models import HoldRuleView, HoldView, NoteView, PaymentView, ReturnView, ShipmentView

router = APIRouter(prefix="/v1/orders", tags=["orders"])
rules_router = APIRouter(prefix="/v1/hold-rules", tags=["hold rules"])
DeskReader = Annotated[Principal, Depends(require(Role.SUPPORT))]
NotePath = Annotated[int, Path(ge=1, le=1_000_000, description="The note's number: 1 for the first.")]


def _documents(conn: ReadConnection, container: ContainerDep, order_id: str, name: str, position: int | None) -> Any:
    caught_up(conn, container, "orders", position)
    return orders.desk_documents(conn, order_id, name)


def _one(documents: list[dict[str, Any]], key: str, value: object, missing: NotFound) -> dict[str, Any]:
    for document in documents:
        if document[key] == value:
            return document
    raise missing


@router.get("/{order_id}/shipments", response_model=list[ShipmentView], responses=READ_ERRORS)
def list_shipments(
    order_id: OrderIdPath, conn: ReadConnection, container: ContainerDep, _: Reader, min_position: MinPosition = None
) -> Any:
    """The order's shipments: location, carrier, tracking number and URL, lines, shipped and delivered times."""
    return _documents(conn, container, order_id, "shipments", min_position)


@router.get("/{order_id}/shipments/{shipment_id}", response_model=ShipmentView, responses=READ_ERRORS)
def get_shipment(
    order_id: OrderIdPath,
    shipment_id: ShipmentIdPath,
    conn: ReadConnection,
    container: ContainerDep,
    _: Reader,
    min_position: MinPosition = None,
) -> Any:
    found = _documents(conn, container, order_id, "shipments", min_position)
    missing = ShipmentNotFound(f"order {order_id!r} has no shipment {shipment_id!r}")
    return _one(found, "shipment_id", shipment_id, missing)


@router.get("/{order_id}/returns", response_model=list[ReturnView], responses=READ_ERRORS)
def list_returns(
    order_id: OrderIdPath, conn: ReadConnection, container: ContainerDep, _: Reader, min_position: MinPosition = None
) -> Any:
    """The order's returns: status, lines, replacements (an exchange), credit, fee, refunded and refund due."""
    return _documents(conn, container, order_id, "returns", min_position)


@router.get("/{order_id}/returns/{return_id}", response_model=ReturnView, responses=READ_ERRORS)
def get_return(
    order_id: OrderIdPath,
    return_id: ReturnIdPath,
    conn: ReadConnection,
    container: ContainerDep,
    _: Reader,
    min_position: MinPosition = None,
) -> Any:
    found = _documents(conn, container, order_id, "returns", min_position)
    return _one(found, "return_id", return_id, ReturnNotFound(f"order {order_id!r} has no return {return_id!r}"))


@router.get("/{order_id}/payments", response_model=list[PaymentView], responses=READ_ERRORS)
def list_payments(
    order_id: OrderIdPath, conn: ReadConnection, container: ContainerDep, _: Reader, min_position: MinPosition = None
) -> Any:
    """Every authorization, capture, void and refund of the order, in ledger order."""
    return _documents(conn, container, order_id, "payments", min_position)


@router.get("/{order_id}/holds", response_model=list[HoldView], responses=READ_ERRORS)
def list_holds(
    order_id: OrderIdPath, conn: ReadConnection, container: ContainerDep, _: Reader, min_position: MinPosition = None
) -> Any:
    """The order's holds, open and released, with who placed and released them, and why."""
    return _documents(conn, container, order_id, "holds", min_position)


@router.get("/{order_id}/holds/{hold_id}", response_model=HoldView, responses=READ_ERRORS)
def get_hold(
    order_id: OrderIdPath,
    hold_id: HoldIdPath,
    conn: ReadConnection,
    container: ContainerDep,
    _: Reader,
    min_position: MinPosition = None,
) -> Any:
    found = _documents(conn, container, order_id, "holds", min_position)
    return _one(found, "hold_id", hold_id, HoldNotFound(f"order {order_id!r} has no hold {hold_id!r}"))


@router.get("/{order_id}/notes", response_model=list[NoteView], responses=READ_ERRORS)
def list_notes(
    order_id: OrderIdPath,
    conn: ReadConnection,
    container: ContainerDep,
    _: DeskReader,
    min_position: MinPosition = None,
) -> Any:
    """Staff notes on the order, oldest first (support and admins)."""
    return _documents(conn, container, order_id, "notes", min_position)


@router.get("/{order_id}/notes/{note}", response_model=NoteView, responses=READ_ERRORS)
def get_note(
    order_id: OrderIdPath,
    note: NotePath,
    conn: ReadConnection,
    container: ContainerDep,
    _: DeskReader,
    min_position: MinPosition = None,
) -> Any:
    found = _documents(conn, container, order_id, "notes", min_position)
    return _one(found, "number", note, NotFound(f"order {order_id!r} has no note {note}"))


class HoldRules(BaseModel):
    items: list[HoldRuleView]


@rules_router.get("", response_model=HoldRules, responses=READ_ERRORS)
def list_hold_rules(
    conn: ReadConnection, container: ContainerDep, _: DeskReader, min_position: MinPosition = None
) -> HoldRules:
    """The hold rules, by id (set and removed by admins)."""
    caught_up(conn, container, "orders", min_position)
    return HoldRules(items=orders.hold_rules(conn))
