from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field

from api.deps import ContainerDep, LedgerDep, require
from api.errors import READ_ERRORS
from api.keys import Principal, Role
from api.reads import Limit, ReadConnection
from api.routers.paths import LocationIdPath, OrderIdPath, SkuPath
from api.schemas.as_of import OrderAsOf, StockAsOf, TimeKind
from api.schemas.common import PRINTABLE_PATTERN, LedgerTime
from commands import checkpoints
from commands.chain_verify import verify
from commands.row_checks import with_rows_checked
from domain.errors import InvalidCommand, OrderNotFound, StockItemNotFound
from domain.orders import Order
from domain.stock import StockItem
from queries.audit import AuditPage, events_page, stream_events

router = APIRouter(prefix="/v1/audit", tags=["audit"], responses=READ_ERRORS)
as_of_router = APIRouter(prefix="/v1", responses=READ_ERRORS)
Auditor = Annotated[Principal, Depends(require(Role.AUDITOR))]


class VerificationAnswer(BaseModel):
    ok: bool
    events: int
    head: str | None
    position: int | None = Field(description="The last event's position.")
    first_broken_position: int | None
    problem: str | None
    sealed_through: int | None = Field(description="The last position the writer's seal covers.")
    findings: list[str] = Field(description="Stored rows beside the events that failed their check.")
    notes: list[str]


@router.get("/verify", response_model=VerificationAnswer)
def verify_ledger(conn: ReadConnection, container: ContainerDep, _: Auditor) -> VerificationAnswer:
    """Recompute the hash chain over every stored event, check the writer's seals and every stored
    row beside the events (snapshots, idempotency records, time index); name the first position
    where it breaks.

    To prove the ledger only grew since an earlier moment, keep a signed checkpoint
    (`GET /v1/audit/checkpoints`) and run `oms audit verify --checkpoint FILE`.
    """
    seals = container.seals
    result = with_rows_checked(conn, verify(conn, seals=seals), seals)
    return VerificationAnswer(
        ok=result.ok,
        events=result.events,
        head=result.head,
        position=result.position,
        first_broken_position=result.first_broken_position,
        problem=result.problem,
        sealed_through=result.sealed_through,
        findings=result.findings,
        notes=result.notes,
    )


class CheckpointBody(BaseModel):
    format: str
    position: int
    hash: str
    events: int
    content: str = Field(description="The order-free digest of the events up to `position`.")
    signed_at: str
    key_id: str


class CheckpointAnswer(BaseModel):
    """A signed checkpoint, as `oms audit checkpoint` writes it: save it as a file to verify against."""

    checkpoint: CheckpointBody
    signature: str = Field(description="Ed25519, base64, over the canonical JSON of `checkpoint`.")
    public_key: str = Field(description="As the signer stated it; check against the key you were given.")


class CheckpointPage(BaseModel):
    items: list[CheckpointAnswer]
    next_before: int | None = Field(description="Pass as `before` for the next (older) page; null: no more.")


@router.get("/checkpoints", response_model=CheckpointPage)
def list_checkpoints(
    conn: ReadConnection,
    _: Auditor,
    before: Annotated[int | None, Query(ge=1, description="Only checkpoints at lower positions.")] = None,
    limit: Limit = 100,
) -> CheckpointPage:
    """Signed checkpoints of the ledger's head, newest first."""
    page = checkpoints.listing(conn, limit, before)
    return CheckpointPage(
        items=[CheckpointAnswer.model_validate(signed.document()) for signed in page],
        next_before=page[-1].checkpoint.position if len(page) == limit else None,
    )


NDJSON = "application/x-ndjson"


@router.get(
    "/events",
    response_model=AuditPage,
    responses={
        200: {
            "content": {NDJSON: {"schema": {"type": "string"}}},
            "description": "A JSON page, or with Accept: application/x-ndjson every matching event.",
        }
    },
)
def audit_events(
    request: Request,
    conn: ReadConnection,
    container: ContainerDep,
    _: Auditor,
    after: Annotated[int, Query(ge=0, description="Only events after this ledger position (resume here).")] = 0,
    limit: Limit = 100,
    stream_id: UUID | None = None,
    actor: Annotated[str | None, Query(max_length=200, pattern=PRINTABLE_PATTERN)] = None,
    event_type: Annotated[
        str | None, Query(alias="type", max_length=100, pattern=PRINTABLE_PATTERN, description="Such as Order.Placed.")
    ] = None,
) -> AuditPage | Response:
    """Every event in ledger order, with who, when, why and a sentence; JSON pages or an NDJSON stream."""
    if NDJSON not in request.headers.get("accept", ""):
        return events_page(conn, after=after, limit=limit, stream_id=stream_id, actor=actor, event_type=event_type)

    def lines() -> Iterator[bytes]:
        # Its own connection: the stream outlives this request's dependency.
        with container.reads.connection() as stream_conn:
            for event in stream_events(
                stream_conn, after=after, stream_id=stream_id, actor=actor, event_type=event_type
            ):
                yield (json.dumps(event.model_dump(mode="json")) + "\n").encode()

    return StreamingResponse(lines(), media_type=NDJSON)


AsOfTime = Annotated[LedgerTime, Query(description="The moment, ISO 8601 with a zone.")]
TimeParam = Annotated[TimeKind, Query(description="business: occurred_at; recorded: when the ledger wrote it.")]


def _aware(at: datetime) -> datetime:
    if at.utcoffset() is None:
        raise InvalidCommand("at must carry a time zone")
    return at


@as_of_router.get("/orders/{order_id}/as-of", response_model=OrderAsOf, tags=["audit"])
def order_as_of(
    order_id: OrderIdPath, at: AsOfTime, ledger: LedgerDep, _: Auditor, time: TimeParam = "business"
) -> OrderAsOf:
    """The order as it stood at a moment, replayed from its events (snapshots do not change the answer)."""
    order = ledger.as_of(Order.id_for(order_id), _aware(at), time)
    if not isinstance(order, Order):
        raise OrderNotFound(f"order {order_id!r} had no events by {at.isoformat()}")
    return OrderAsOf.of(order, at, time)


@as_of_router.get("/stock/{sku}/{location_id}/as-of", response_model=StockAsOf, tags=["audit"])
def stock_as_of(
    sku: SkuPath, location_id: LocationIdPath, at: AsOfTime, ledger: LedgerDep, _: Auditor, time: TimeParam = "business"
) -> StockAsOf:
    """A stock item as it stood at a moment, replayed from its events."""
    item = ledger.as_of(StockItem.id_for(sku, location_id), _aware(at), time)
    if not isinstance(item, StockItem):
        raise StockItemNotFound(f"no stock of {sku!r} at {location_id!r} by {at.isoformat()}")
    return StockAsOf.of(item, at, time)
