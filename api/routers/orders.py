from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import ContextDep, LedgerDep
from api.errors import COMMAND_ERRORS
from api.routers import answer
from api.routers.paths import OrderIdPath, ReturnIdPath, ShipmentIdPath
from api.schemas.common import CommandAnswer
from api.schemas.orders import (
    CancellationBody,
    DeliveryBody,
    PaymentBody,
    PlaceOrderBody,
    ReturnBody,
    ReturnReceiptBody,
    ShipmentBody,
)

router = APIRouter(prefix="/v1/orders", tags=["orders"], responses=COMMAND_ERRORS)


@router.post("", status_code=201, response_model=CommandAnswer)
def place_order(body: PlaceOrderBody, ledger: LedgerDep, ctx: ContextDep) -> JSONResponse:
    """Place an order and commit stock for every line, in one transaction.

    Lines that cannot be committed are backordered where the item allows it; otherwise
    the order fails with `insufficient_stock` naming the SKUs, and nothing is written.
    """
    result = ledger.place_order(body.to_command(), ctx)
    return answer(result, 201, location=f"/v1/orders/{result.id}")


@router.post("/{order_id}/payments", response_model=CommandAnswer)
def record_payment(order_id: OrderIdPath, body: PaymentBody, ledger: LedgerDep, ctx: ContextDep) -> JSONResponse:
    """Record an authorization, capture, void or refund (refunded <= captured <= authorized)."""
    return answer(ledger.record_payment(body.to_command(order_id), ctx))


@router.post("/{order_id}/cancellation", response_model=CommandAnswer)
def cancel_order(order_id: OrderIdPath, body: CancellationBody, ledger: LedgerDep, ctx: ContextDep) -> JSONResponse:
    """Cancel the whole order, or some line quantities; committed stock is released."""
    return answer(ledger.cancel_order(body.to_command(order_id), ctx))


@router.post("/{order_id}/shipments", status_code=201, response_model=CommandAnswer)
def ship_order(order_id: OrderIdPath, body: ShipmentBody, ledger: LedgerDep, ctx: ContextDep) -> JSONResponse:
    """Ship from one location; without lines, every committed unit held there."""
    return answer(ledger.ship_order(body.to_command(order_id), ctx), 201)


@router.post("/{order_id}/shipments/{shipment_id}/delivery", response_model=CommandAnswer)
def deliver_shipment(
    order_id: OrderIdPath, shipment_id: ShipmentIdPath, body: DeliveryBody, ledger: LedgerDep, ctx: ContextDep
) -> JSONResponse:
    """Record that a shipment was delivered."""
    return answer(ledger.deliver_shipment(body.to_command(order_id, shipment_id), ctx))


@router.post("/{order_id}/returns", status_code=201, response_model=CommandAnswer)
def request_return(order_id: OrderIdPath, body: ReturnBody, ledger: LedgerDep, ctx: ContextDep) -> JSONResponse:
    """Open a return for shipped units."""
    return answer(ledger.request_return(body.to_command(order_id), ctx), 201)


@router.post("/{order_id}/returns/{return_id}/receipt", response_model=CommandAnswer)
def receive_return(
    order_id: OrderIdPath, return_id: ReturnIdPath, body: ReturnReceiptBody, ledger: LedgerDep, ctx: ContextDep
) -> JSONResponse:
    """Receive returned units at a location, restocked or set aside as damaged."""
    return answer(ledger.receive_return(body.to_command(order_id, return_id), ctx))
