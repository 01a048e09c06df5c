from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import CommandsDep, ContainerDep
from api.errors import COMMAND_ERRORS, READ_ERRORS
from api.reads import MinPosition, ReadConnection, Reader, caught_up
from api.routers import answer
from api.schemas.common import CommandAnswer
from api.schemas.inventory import RegisterLocationBody
from queries.models import LocationRow
from queries.stock import list_locations

router = APIRouter(prefix="/v1/locations", tags=["locations"])


@router.get("", response_model=list[LocationRow], responses=READ_ERRORS)
def locations(
    conn: ReadConnection, container: ContainerDep, _: Reader, min_position: MinPosition = None
) -> list[LocationRow]:
    """Every location, in sourcing order (priority, then id)."""
    caught_up(conn, container, "stock", min_position)
    return list_locations(conn)


@router.post("", status_code=201, response_model=CommandAnswer, responses=COMMAND_ERRORS)
async def register_location(body: RegisterLocationBody, commands: CommandsDep) -> JSONResponse:
    """Register a location where stock is kept; its priority ranks it for sourcing."""
    return answer(await commands.run(body.to_command()), 201)
