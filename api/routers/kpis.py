from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api.deps import ContainerDep
from api.errors import READ_ERRORS
from api.reads import CSV_ANSWER, Analyst, MinPosition, ReadConnection, caught_up, exported
from api.schemas.common import _ID_PATTERN, PRINTABLE_PATTERN, IsoDate
from queries import kpis
from queries.models import KpiAnswer

router = APIRouter(prefix="/v1/kpis", tags=["kpis"], responses=READ_ERRORS)


@router.get("/fulfillment", response_model=KpiAnswer, responses=CSV_ANSWER)
def fulfillment(
    request: Request,
    conn: ReadConnection,
    container: ContainerDep,
    _: Analyst,
    start: Annotated[IsoDate | None, Query(alias="from", description="First placement day (UTC), included.")] = None,
    end: Annotated[IsoDate | None, Query(alias="to", description="Last placement day (UTC), included.")] = None,
    granularity: kpis.Granularity = "day",
    channel: Annotated[str | None, Query(max_length=32, pattern=PRINTABLE_PATTERN)] = None,
    location_id: Annotated[str | None, Query(max_length=64, pattern=_ID_PATTERN)] = None,
    group_by: Annotated[list[kpis.GroupBy] | None, Query(description="Also split rows by these.")] = None,
    min_position: MinPosition = None,
) -> KpiAnswer | Response:
    """Fulfillment KPIs by placement cohort; rates are null where their denominator is zero."""
    caught_up(conn, container, "kpis", min_position)
    answer = kpis.fulfillment(
        conn,
        start=start,
        end=end,
        granularity=granularity,
        channel=channel,
        location_id=location_id,
        group_by=group_by or [],
    )
    return exported(request, answer, "rows", "fulfillment")
