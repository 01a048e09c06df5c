from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator
from concurrent.futures import Future
from contextlib import suppress
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from api.deps import CommandsDep
from api.errors import IMPORT_ERRORS, UnsupportedMediaType
from api.importing import CHUNKS_AHEAD, Chunk, Line, chunk_results, start_chunk
from api.metrics import Metrics
from commands.contracts import Answers
from commands.registry import BY_NAME
from domain.errors import InvalidCommand


class StreamingWhileReading(StreamingResponse):
    """Streams results while the request body is still arriving.

    Starlette's own StreamingResponse (below ASGI 2.4) listens for a disconnect by
    reading ``receive``, which would swallow the rest of the body; a vanished client
    shows up here as a failed send instead.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.stream_response(send)


router = APIRouter(prefix="/v1/import", tags=["import"], responses=IMPORT_ERRORS)

NDJSON = "application/x-ndjson"
ACCEPTED = {NDJSON, "application/jsonl", "application/jsonlines", "text/plain"}
EXAMPLE = "\n".join(
    [
        '{"command": "register_location", "location_id": "main", "name": "Main", "kind": "warehouse", "priority": 1}',
        '{"command": "receive_stock", "sku": "85123A", "location_id": "main", "quantity": 100}',
        '{"command": "place_order", "order_id": "536365", "channel": "web", "customer_id": "17850", '
        '"currency": "GBP", "lines": [{"sku": "85123A", "quantity": 6, "unit_price": "2.55"}]}',
        '{"command": "ship_order", "order_id": "536365", "carrier": "Royal Mail"}',
    ]
)


async def _lines(request: Request) -> AsyncIterator[list[Line]]:
    """Numbered lines as the body streams in, a chunk's worth at a time, as bytes: each is decoded
    (strictly) by the JSON parser, so invalid UTF-8 fails its line."""
    pending, number = b"", 0
    async for chunk in request.stream():
        pending += chunk
        *complete, pending = pending.split(b"\n")
        batch: list[Line] = []
        for raw in complete:
            number += 1
            batch.append((number, raw))
        if batch:
            yield batch
    if pending.strip():
        yield [(number + 1, pending)]


@router.post(
    "",
    response_class=StreamingWhileReading,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "One command per line: "
            + ", ".join(BY_NAME)
            + ". Fields are the command's REST body plus its path ids; `idempotency_key` is optional.",
            "content": {NDJSON: {"schema": {"type": "string"}, "example": EXAMPLE}},
        }
    },
    responses={
        200: {
            "description": "One result per non-empty line, in order: "
            '`{"line": 1, "result": "ok", "id": ..., "version": ..., "position": ...}` or '
            '`{"line": 2, "result": "error", "code": ..., "detail": ...}`.',
            "content": {NDJSON: {"schema": {"type": "string"}}},
        }
    },
)
async def import_commands(
    request: Request,
    commands: CommandsDep,
    content_type: Annotated[str | None, Header()] = None,
) -> StreamingWhileReading:
    """Apply NDJSON commands in order; answer NDJSON, one result per line, streamed as they run."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media not in ACCEPTED:
        raise UnsupportedMediaType(f"send the commands as {NDJSON}, one JSON object per line")
    writer, ctx = commands.writer, commands.context
    metrics: Metrics = request.app.state.container.metrics
    if ctx.idempotency_key is not None or ctx.expected_version is not None:
        raise InvalidCommand("an import takes idempotency_key per line, and no If-Match")

    async def finish(chunk: Chunk, ran: Future[Answers]) -> bytes:
        with suppress(Exception):  # its error is the chunk's result, below
            await asyncio.wrap_future(ran)
        results = chunk_results(chunk, ran)
        metrics.imported(results)
        return "".join(json.dumps(result, default=str) + "\n" for result in results).encode()

    async def results() -> AsyncIterator[bytes]:
        # Chunks are handed over ahead of the one whose results are awaited, as ``oms import`` does.
        running: deque[tuple[Chunk, Future[Answers]]] = deque()
        async for batch in _lines(request):
            running.append(await run_in_threadpool(start_chunk, writer, batch, ctx))
            if len(running) > CHUNKS_AHEAD:
                yield await finish(*running.popleft())
        while running:
            yield await finish(*running.popleft())

    return StreamingWhileReading(results(), media_type=NDJSON)
