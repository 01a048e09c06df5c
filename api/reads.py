"""What every read route shares: a connection, read-your-writes waits, and CSV answers."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.responses import Response
from psycopg import Connection
from pydantic import BaseModel

from api.deps import ContainerDep, require
from api.errors import ReadModelBehind
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
    with container.pool.connection() as conn:
        yield conn


ReadConnection = Annotated[Connection[Any], Depends(connection)]


def caught_up(conn: Connection[Any], container: ContainerDep, projection: str, min_position: int | None) -> None:
    if min_position is None:
        return
    if min_position > head(conn):  # no command has answered it, so waiting would not bring it
        raise InvalidCommand(f"min_position {min_position} is beyond the ledger's last position")
    if not wait_for_position(conn, projection, min_position, container.settings.read_wait_seconds):
        raise ReadModelBehind(f"the {projection} read model has not reached position {min_position} yet; retry shortly")


def wants_csv(request: Request) -> bool:
    return "text/csv" in request.headers.get("accept", "")


def as_csv(rows: Sequence[BaseModel], filename: str) -> Response:
    """Rows as CSV, nested values (such as GMV by currency) as JSON."""
    out = io.StringIO()
    dicts = [row.model_dump(mode="json") for row in rows]
    fields = list(dicts[0]) if dicts else []
    writer = csv.DictWriter(out, fieldnames=fields)
    writer.writeheader()
    for row in dicts:
        writer.writerow({k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in row.items()})
    return Response(
        out.getvalue(), media_type="text/csv", headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'}
    )


CSV_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "JSON, or CSV when asked by Accept."}
}
