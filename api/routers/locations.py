from __future__ import annotations

from fastapi import APIRouter

from api.deps import ContainerDep
from api.errors import READ_ERRORS
from api.reads import MinPosition, ReadConnection, Reader, caught_up
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
