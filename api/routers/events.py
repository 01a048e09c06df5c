"""The integrator feed: the ledger's events in order, as JSON pages or an NDJSON stream that stays
open and follows new events, so a shop front, WMS or ERP learns what happened without polling
every order. Each item is thin (type, stream, order id, times, actor, a sentence): read the
resource itself for its state, with ``min_position`` set to the item's position."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Annotated

import psycopg
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse

from api.deps import ContainerDep, require
from api.errors import READ_ERRORS
from api.keys import Principal, Role
from api.reads import Limit, ReadConnection
from api.routers.audit import NDJSON
from commands.registry import event_types
from domain.errors import InvalidCommand
from queries.audit import AuditPage, events_page, stream_events

router = APIRouter(prefix="/v1", tags=["events"], responses=READ_ERRORS)
Integrator = Annotated[Principal, Depends(require(Role.INTEGRATOR))]
FOLLOW_POLL_SECONDS = 0.5
HEARTBEAT_SECONDS = 15.0  # an empty line, so proxies and clients see the stream is alive


def _types(given: str | None) -> list[str] | None:
    if not given:
        return None
    wanted = [name.strip() for name in given.split(",") if name.strip()]
    unknown = sorted(set(wanted) - event_types())
    if unknown:
        raise InvalidCommand(f"unknown event types: {', '.join(unknown)}", unknown=unknown)
    return wanted


Types = Annotated[
    str | None,
    Query(
        max_length=2000,
        pattern=r"^[A-Za-z.,\s]*$",
        description="Comma-separated event types, such as Order.Shipped,Order.Delivered; default all.",
        examples=["Order.Shipped,Order.Delivered"],
    ),
]


@router.get(
    "/events",
    response_model=AuditPage,
    responses={
        200: {
            "content": {NDJSON: {"schema": {"type": "string"}}},
            "description": "A JSON page, or with Accept: application/x-ndjson every matching event (and with"
            " follow=true, new ones as they come).",
        }
    },
)
def integrator_events(
    request: Request,
    conn: ReadConnection,
    container: ContainerDep,
    _: Integrator,
    after: Annotated[int, Query(ge=0, description="Only events after this ledger position (resume here).")] = 0,
    types: Types = None,
    limit: Limit = 100,
    follow: Annotated[bool, Query(description="With NDJSON: stay open and send new events as they come.")] = False,
) -> AuditPage | Response:
    """The ledger's events after a position, in ledger order; resume with `after` = the last position seen."""
    wanted = _types(types)
    if NDJSON not in request.headers.get("accept", ""):
        return events_page(conn, after=after, limit=limit, types=wanted)

    def lines() -> Iterator[bytes]:
        position = after
        quiet_since = time.monotonic()
        # Its own connection, outside the pool: the stream outlives this request, and a follower
        # may stay for hours without taking a connection from the queries.
        with psycopg.connect(container.read_url, autocommit=True) as stream_conn:
            while True:
                for event in stream_events(stream_conn, after=position, types=wanted):
                    position = event.position
                    quiet_since = time.monotonic()
                    yield (json.dumps(event.model_dump(mode="json")) + "\n").encode()
                if not follow:
                    return
                if time.monotonic() - quiet_since >= HEARTBEAT_SECONDS:
                    quiet_since = time.monotonic()
                    yield b"\n"
                time.sleep(FOLLOW_POLL_SECONDS)

    return StreamingResponse(lines(), media_type=NDJSON)
