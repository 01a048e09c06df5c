from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import ContextDep, LedgerDep
from api.errors import COMMAND_ERRORS
from api.routers import answer
from api.schemas.common import CommandAnswer
from api.schemas.inventory import RegisterLocationBody

router = APIRouter(prefix="/v1/locations", tags=["locations"], responses=COMMAND_ERRORS)


@router.post("", status_code=201, response_model=CommandAnswer)
def register_location(body: RegisterLocationBody, ledger: LedgerDep, ctx: ContextDep) -> JSONResponse:
    """Register a location where stock is kept; its priority ranks it for sourcing."""
    return answer(ledger.register_location(body.to_command(), ctx), 201)
