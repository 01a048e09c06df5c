from __future__ import annotations

from fastapi import APIRouter

from api.deps import ContainerDep
from api.errors import READ_ERRORS
from api.reads import AnyRole, ReadConnection
from queries.models import ProjectionStatus
from queries.projections import projection_statuses

router = APIRouter(prefix="/v1/projections", tags=["operations"], responses=READ_ERRORS)


@router.get("", response_model=list[ProjectionStatus])
def list_projections(conn: ReadConnection, container: ContainerDep, _: AnyRole) -> list[ProjectionStatus]:
    """Each projection's position, the ledger head, and the lag between them."""
    return projection_statuses(conn, container.projection_names())
