"""Bulk import: NDJSON, one command per line, applied in order.

A line is ``{"command": "<name>", "idempotency_key"?: "...", ...fields}``, where the
fields are the REST body of that command plus the ids its path would carry
(``order_id``, ``shipment_id``, ...). Every line gets one result; a bad line does
not stop the others.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import orjson
from eventsourcing.persistence import PersistenceError
from pydantic import TypeAdapter, ValidationError

from api.errors import field_errors
from api.routers.commands import bodies
from api.schemas.common import CommandBody, Identifier, Sku, VisibleAscii
from commands.contracts import Answers, CommandContext, Writer
from commands.messages import Command
from commands.registry import BY_NAME, COMMANDS
from domain.errors import LedgerError

_IDENTIFIER: TypeAdapter[str] = TypeAdapter(Identifier)
_SKU: TypeAdapter[str] = TypeAdapter(Sku)
_KEY: TypeAdapter[str] = TypeAdapter(VisibleAscii)


@dataclass(frozen=True, slots=True)
class Spec:
    body: type[CommandBody]
    path: tuple[str, ...] = ()


@cache
def import_specs() -> dict[str, Spec]:
    """Each command by its registry name: its body schema, and the ids its REST path carries."""
    schemas = bodies()
    return {spec.name: Spec(schemas[spec.message], tuple(spec.route.parameters())) for spec in COMMANDS}


class LineError(Exception):
    def __init__(self, code: str, detail: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail)
        self.code, self.detail, self.errors = code, detail, errors


def parse_line(text: bytes | str) -> tuple[Command, str | None]:
    """The command a line asks for, and its idempotency key; LineError if it is not valid.
    Lines come as the bytes received, so that invalid UTF-8 is refused here, as on a command route,
    rather than decoded into replacement characters."""
    try:
        fields = orjson.loads(text)  # strict JSON in UTF-8: no NaN or Infinity, integers of up to 64 bits
    except orjson.JSONDecodeError as error:
        raise LineError("invalid_json", f"not JSON: {error}") from None
    if not isinstance(fields, dict):
        raise LineError("validation_error", "a line must be a JSON object")
    name = fields.pop("command", None)
    spec = import_specs().get(name) if isinstance(name, str) else None
    if spec is None:
        raise LineError("unknown_command", f"command must be one of: {', '.join(BY_NAME)}")
    key = fields.pop("idempotency_key", None)
    try:
        if key is not None:
            key = _KEY.validate_python(key, strict=True)  # the Idempotency-Key header's rule
        path = {f: (_SKU if f == "sku" else _IDENTIFIER).validate_python(fields.pop(f, None)) for f in spec.path}
        body = spec.body.model_validate(fields)
    except ValidationError as error:
        raise LineError("validation_error", "the command is not valid", field_errors(error.errors())) from None
    command: Command = body.to_command(**path)  # type: ignore[attr-defined]
    return command, key


def _failed(number: int, error: LineError | LedgerError) -> dict[str, Any]:
    if isinstance(error, LedgerError):
        return {"line": number, "result": "error", "code": error.code, "detail": error.detail, **error.extra}
    failed: dict[str, Any] = {"line": number, "result": "error", "code": error.code, "detail": error.detail}
    if error.errors:
        failed["errors"] = error.errors
    return failed


# Chunks handed over beyond the one whose results are awaited. The writer decides a chunk while
# the one before it is written, and with only one ahead, the next was often still being parsed
# when it finished deciding: it then waited for the write, and the database for the next chunk.
CHUNKS_AHEAD = 2


@dataclass(frozen=True, slots=True)
class Chunk:
    """Lines parsed: the commands to run, with their line numbers, and the lines already failed."""

    failed: dict[int, dict[str, Any]]
    numbers: list[int]
    items: list[tuple[Command, CommandContext]]


Line = tuple[int, bytes | str]


def parse_chunk(lines: Iterable[Line], base: CommandContext) -> Chunk:
    failed: dict[int, dict[str, Any]] = {}
    numbers, items = [], []
    for number, text in lines:
        if not text.strip():
            continue
        try:
            command, key = parse_line(text)
        except LineError as error:
            failed[number] = _failed(number, error)
            continue
        numbers.append(number)
        items.append((command, replace(base, idempotency_key=key) if key else base))
    return Chunk(failed, numbers, items)


def start_chunk(writer: Writer, lines: Iterable[Line], base: CommandContext) -> tuple[Chunk, Future[Answers]]:
    """Parse the lines and hand their commands to the writer, without waiting for them to run."""
    chunk = parse_chunk(lines, base)
    return chunk, writer.enqueue(chunk.items)


def chunk_results(chunk: Chunk, ran: Future[Answers]) -> list[dict[str, Any]]:
    """One result per non-empty line of the chunk, in order, once its commands have run."""
    results = dict(chunk.failed)
    try:
        outcomes = ran.result()
    except PersistenceError as error:
        down = {"result": "error", "code": "database_unavailable", "detail": str(error)}
        results.update({n: {"line": n, **down} for n in chunk.numbers})
    else:
        for number, outcome in zip(chunk.numbers, outcomes, strict=True):
            if isinstance(outcome, LedgerError):
                results[number] = _failed(number, outcome)
            else:
                results[number] = {"line": number, "result": "ok", **outcome.as_dict()}
                if outcome.replayed:  # its key was used before: the first answer, nothing new written
                    results[number]["replayed"] = True
    return [results[n] for n in sorted(results)]


def run_chunks(writer: Writer, chunks: Iterable[list[Line]], base: CommandContext) -> Iterator[list[dict[str, Any]]]:
    """Each chunk's results, in order: one per non-empty line. Each chunk is one group commit, in
    which a line that fails (its shape or a rule) fails alone. Chunks are parsed and handed over
    ahead of the one whose results are awaited (``CHUNKS_AHEAD``)."""
    running: deque[tuple[Chunk, Future[Answers]]] = deque()
    for lines in chunks:
        running.append(start_chunk(writer, lines, base))
        if len(running) > CHUNKS_AHEAD:
            yield chunk_results(*running.popleft())
    while running:
        yield chunk_results(*running.popleft())
