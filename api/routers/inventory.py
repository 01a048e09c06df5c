from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import CommandsDep
from api.errors import COMMAND_ERRORS
from api.routers import answer
from api.routers.paths import LocationIdPath, SkuPath, TransferIdPath
from api.schemas.common import CommandAnswer
from api.schemas.inventory import (
    AdjustStockBody,
    MoveStockBody,
    ReceiveStockBody,
    ReceiveTransferBody,
    StockPolicyBody,
    TransferStockBody,
)

router = APIRouter(prefix="/v1/inventory", tags=["inventory"], responses=COMMAND_ERRORS)


@router.post("/receipts", response_model=CommandAnswer)
async def receive_stock(body: ReceiveStockBody, commands: CommandsDep) -> JSONResponse:
    """Receive units from a supplier into `available`."""
    return answer(await commands.run(body.to_command()))


@router.post("/adjustments", response_model=CommandAnswer)
async def adjust_stock(body: AdjustStockBody, commands: CommandsDep) -> JSONResponse:
    """Adjust by a `delta`, or to a `counted_quantity` of on-hand units."""
    return answer(await commands.run(body.to_command()))


@router.post("/moves", response_model=CommandAnswer)
async def move_stock(body: MoveStockBody, commands: CommandsDep) -> JSONResponse:
    """Move units between available, damaged, quality_control and safety_stock."""
    return answer(await commands.run(body.to_command()))


@router.post("/transfers", status_code=201, response_model=CommandAnswer)
async def transfer_stock(body: TransferStockBody, commands: CommandsDep) -> JSONResponse:
    """Send units to another location; they show as `incoming` there until received."""
    result = await commands.run(body.to_command())
    return answer(result, 201, location=f"/v1/inventory/transfers/{result.id}")


@router.post("/transfers/{transfer_id}/receipt", response_model=CommandAnswer)
async def receive_transfer(
    transfer_id: TransferIdPath, body: ReceiveTransferBody, commands: CommandsDep
) -> JSONResponse:
    """Receive a transfer, whole or in part."""
    return answer(await commands.run(body.to_command(transfer_id)))


@router.put("/{sku}/{location_id}/policy", response_model=CommandAnswer)
async def set_stock_policy(
    sku: SkuPath, location_id: LocationIdPath, body: StockPolicyBody, commands: CommandsDep
) -> JSONResponse:
    """Set reorder point and quantity, safety stock and whether backorders are allowed."""
    return answer(await commands.run(body.to_command(sku, location_id)))
