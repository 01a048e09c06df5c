"""What every read route shares: a connection, read-your-writes waits, and CSV answers."""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterable, Iterator
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query, Request
from fastapi.responses import Response, StreamingResponse
from psycopg import Connection, errors
from pydantic import BaseModel

from api.deps import ContainerDep, require
from api.errors import ReadModelBehind
from api.exports import CSV, NDJSON, PAGE, PARQUET, encode, model_schema, stream_pages
from api.keys import Principal, Role
from domain.errors import InvalidCommand
from projections.admin import head
from queries.projections import wait_for_position

Reader = Annotated[Principal, Depends(require(Role.ANALYST, Role.SUPPORT, Role.INTEGRATOR))]
Analyst = Annotated[Principal, Depends(require(Role.ANALYST))]
AnyRole = Annotated[Principal, Depends(require(*Role))]
MinPosition = Annotated[
    int | None,
    Query(
        ge=0,
        le=2**63 - 1,
        description="Wait (a few seconds at most) until the read model has applied this ledger position; "
        "a position beyond the ledger's last is refused at once (422).",
    ),
]
Limit = Annotated[int, Query(ge=1, le=1000, description="Rows per page.")]
Cursor = Annotated[str | None, Query(max_length=512, description="`next_cursor` of the previous page.")]


def connection(container: ContainerDep) -> Iterator[Connection[Any]]:
    with container.reads.connection() as conn:
        try:
            yield conn
        except errors.UndefinedTable as error:
            if container.replica is None:  # on the primary a missing table is a defect: a 500
                raise
            # A standby that has not replayed a migration or a rebuild yet.
            raise ReadModelBehind("the standby has not replayed this read model's tables yet; retry shortly") from error


def primary_connection(container: ContainerDep) -> Iterator[Connection[Any]]:
    with container.pool.connection() as conn:
        yield conn


# Query routes read here: a hot standby when ``OMS_READ_DATABASE_URL`` names one.
ReadConnection = Annotated[Connection[Any], Depends(connection)]
# Routes that write (webhook subscriptions) or must see the primary.
PrimaryConnection = Annotated[Connection[Any], Depends(primary_connection)]


def caught_up(conn: Connection[Any], container: ContainerDep, projection: str, min_position: int | None) -> None:
    """Wait until ``projection`` has applied ``min_position`` where ``conn`` reads (on a standby:
    until the standby has replayed the projection's position past it), else 503 read_model_behind."""
    if min_position is None:
        return
    if min_position > head(conn) and (container.replica is None or min_position > _primary_head(container)):
        # No command has answered it, so waiting would not bring it. A standby's own head may lag
        # behind a position the primary has answered: that one is waited for below.
        raise InvalidCommand(f"min_position {min_position} is beyond the ledger's last position")
    if not wait_for_position(conn, projection, min_position, container.settings.read_wait_seconds):
        raise ReadModelBehind(f"the {projection} read model has not reached position {min_position} yet; retry shortly")


def _primary_head(container: ContainerDep) -> int:
    with container.pool.connection() as primary:
        return head(primary)


def export_media(request: Request) -> str | None:
    """The export format the client asked for by Accept (CSV, NDJSON or Parquet), or None: JSON."""
    accept = request.headers.get("accept", "")
    return next((media for media in (PARQUET, NDJSON, CSV) if media in accept), None)


def _rows(model: type[BaseModel], items: Iterable[BaseModel], media: str) -> Iterator[tuple[Any, ...]]:
    mode = "python" if media == PARQUET else "json"
    fields = list(model.model_fields)
    for item in items:
        dumped = item.model_dump(mode=mode)
        yield tuple(dumped[f] for f in fields)


def _export(media: str, filename: str, model: type[BaseModel], items: Iterable[BaseModel]) -> StreamingResponse:
    columns = list(model.model_fields)
    body = encode(media, columns, model_schema(model), _rows(model, items, media))
    extension = {CSV: "csv", NDJSON: "ndjson", PARQUET: "parquet"}[media]
    return StreamingResponse(
        body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{filename}.{extension}"'}
    )


def exported(request: Request, answer: T, field: str, filename: str) -> T | Response:
    """``answer`` as JSON, or its ``field`` rows in the format Accept asks for."""
    media = export_media(request)
    if media is None:
        return answer
    model = typing.get_args(type(answer).model_fields[field].annotation)[0]
    return _export(media, filename, model, getattr(answer, field))


def exported_pages(
    request: Request,
    container: ContainerDep,
    conn: Connection[Any],
    page: Callable[..., T],
    *,
    model: type[BaseModel],
    cursor: str | None,
    limit: int,
    filename: str,
) -> T | Response:
    """One page as JSON (``page(conn, cursor=, limit=)``, on the request's connection); or, when
    Accept asks for CSV, NDJSON or Parquet, every row the filters select (from ``cursor`` on),
    read page after page on a connection of the stream's own (it outlives the request), at
    constant memory."""
    media = export_media(request)
    if media is None:
        return page(conn, cursor=cursor, limit=limit)

    def items() -> Iterator[BaseModel]:
        with container.reads.connection() as own:
            yield from stream_pages(lambda after: page(own, cursor=after, limit=PAGE), cursor)

    return _export(media, filename, model, items())


T = TypeVar("T", bound=BaseModel)
CSV_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            CSV: {"schema": {"type": "string"}},
            NDJSON: {"schema": {"type": "string"}},
            PARQUET: {"schema": {"type": "string", "format": "binary"}},
        },
        "description": "JSON (a page); or, asked by Accept, every row the filters select as CSV, NDJSON or Parquet.",
    }
}
