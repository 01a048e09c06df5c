"""Every error the API answers, as RFC 9457 problem+json, mapped to HTTP in this one place."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, ClassVar

from eventsourcing.persistence import PersistenceError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg import OperationalError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from commands.contracts import Stopped
from domain import errors as e

PROBLEM_JSON = "application/problem+json"
# What a 503 asks the client to wait before trying again: the database restarts, or a writer comes back.
RETRY_AFTER_SECONDS = 2
log = logging.getLogger(__name__)


class Unauthenticated(e.LedgerError):
    code = "unauthenticated"
    title = "A valid API key is required"


class Forbidden(e.LedgerError):
    code = "forbidden"
    title = "This key's role may not do that"


class PayloadTooLarge(e.LedgerError):
    code = "payload_too_large"
    title = "Request body too large"


class UnsupportedMediaType(e.LedgerError):
    code = "unsupported_media_type"
    title = "Unsupported media type"


class ReadModelBehind(e.LedgerError):
    code = "read_model_behind"
    title = "The read model has not caught up yet"


class DatabaseUnavailable(e.LedgerError):
    code = "database_unavailable"
    title = "The database is not answering"


class WebhookNotFound(e.NotFound):
    code = "webhook_not_found"
    title = "No such webhook subscription"


class DeliveryNotFound(e.NotFound):
    code = "delivery_not_found"
    title = "No such webhook delivery"


class WebhookTargetRefused(e.InvalidCommand):
    code = "webhook_target_refused"
    title = "Webhooks may not be sent there"


# The first matching class decides; subclasses come before their bases.
STATUS: list[tuple[type[e.LedgerError], int]] = [
    (Unauthenticated, 401),
    (Forbidden, 403),
    (PayloadTooLarge, 413),
    (UnsupportedMediaType, 415),
    (DatabaseUnavailable, 503),
    (ReadModelBehind, 503),
    (e.StaleVersion, 412),
    (e.VersionConflict, 409),
    (e.IdempotencyKeyReused, 422),
    (e.IdempotencyRecordUntrusted, 500),
    (e.InvalidCommand, 422),
    (e.NotFound, 404),
    (e.RuleViolation, 409),
]


def status_of(error: e.LedgerError) -> int:
    return next((status for kind, status in STATUS if isinstance(error, kind)), 400)


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """RFC 9457 problem details, with a stable machine ``code``."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=["urn:oms:problem:insufficient_stock"])
    title: str
    status: int
    detail: str
    code: str = Field(description="Stable, for machines: insufficient_stock, invalid_transition, ...")
    errors: list[FieldError] | None = Field(default=None, description="Every field error, for 422 validation errors.")


def problem_body(status: int, code: str, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": f"urn:oms:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }


def problem(
    status: int, code: str, title: str, detail: str, headers: Mapping[str, str] | None = None, **extra: Any
) -> JSONResponse:
    headers = {**(headers or {}), **({"WWW-Authenticate": "Bearer"} if status == 401 else {})}
    if status == 503:
        headers.setdefault("Retry-After", str(RETRY_AFTER_SECONDS))
    return JSONResponse(
        problem_body(status, code, title, detail, **extra), status_code=status, media_type=PROBLEM_JSON, headers=headers
    )


def from_ledger_error(error: e.LedgerError) -> JSONResponse:
    return problem(status_of(error), error.code, error.title, error.detail, **error.extra)


def field_errors(errors: Any) -> list[dict[str, Any]]:
    """Validation errors without the raw input or exception objects (not JSON, maybe private)."""
    return [
        {"loc": list(err.get("loc", ())), "msg": str(err.get("msg", "")), "type": str(err.get("type", ""))}
        for err in errors
    ]


def validation_problem(errors: Any, detail: str = "the request is not valid") -> JSONResponse:
    return problem(422, "validation_error", "Invalid request", detail, errors=field_errors(errors))


class _Answers:
    """Problem responses to list in the OpenAPI of every route that can give them."""

    shape: ClassVar[dict[str, Any]] = {"model": Problem, "content": {PROBLEM_JSON: {}}}

    @classmethod
    def of(cls, *statuses: int) -> dict[int | str, dict[str, Any]]:
        described = {
            401: "No, unknown or revoked API key",
            403: "The key's role may not do this",
            404: "A resource named in the request does not exist",
            409: "A business rule forbids it",
            412: "If-Match names an older version",
            413: "Body too large",
            415: "Unsupported media type",
            422: "Invalid request",
            503: "The database is not answering",
        }
        return {s: {**cls.shape, "description": described[s]} for s in statuses}


COMMAND_ERRORS = _Answers.of(401, 403, 404, 409, 412, 413, 422, 503)
IMPORT_ERRORS = _Answers.of(401, 403, 413, 415, 422, 503)
READ_ERRORS = _Answers.of(401, 403, 404, 422, 503)
PAGE_ERRORS = _Answers.of(404, 422, 503)  # a page opened without a key (the tracking page)


def install(app: FastAPI) -> None:
    @app.exception_handler(e.LedgerError)
    async def ledger_error(request: Request, error: e.LedgerError) -> JSONResponse:
        request.state.result = error.code
        return from_ledger_error(error)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        request.state.result = "validation_error"
        return validation_problem(error.errors())

    @app.exception_handler(ValidationError)
    async def invalid_model(request: Request, error: ValidationError) -> JSONResponse:
        request.state.result = "validation_error"
        return validation_problem(error.errors())

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 405:
            # Starlette's Allow names one route's methods; a path often has several routes.
            error.headers = {**(error.headers or {}), "Allow": _allowed(request)}
        if error.status_code == 400:
            # A body that cannot be decoded is as invalid as malformed JSON, which is a 422.
            return problem(422, "validation_error", "Invalid request", f"the body could not be read: {error.detail}")
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        request.state.result = code
        # Headers Starlette set (the 405's Allow, completed above) go out with the problem.
        return problem(error.status_code, code, str(error.detail), str(error.detail), headers=error.headers)

    @app.exception_handler(PersistenceError)
    async def persistence_error(request: Request, error: PersistenceError) -> JSONResponse:
        request.state.result = DatabaseUnavailable.code
        log.error("database error: %s", error)
        return from_ledger_error(
            DatabaseUnavailable("the database failed during the command; repeat it with the same Idempotency-Key")
        )

    @app.exception_handler(Stopped)
    async def writer_stopped(request: Request, error: Stopped) -> JSONResponse:
        request.state.result = "writer_unavailable"
        log.error("the ledger's writer is not available: %s", error)
        return problem(503, "writer_unavailable", "The ledger's writer is not running", str(error))

    @app.exception_handler(OperationalError)
    async def operational_error(request: Request, error: OperationalError) -> JSONResponse:
        request.state.result = DatabaseUnavailable.code
        log.error("database error: %s", error)
        return from_ledger_error(DatabaseUnavailable("the database is not answering"))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        request.state.result = "internal_error"
        log.exception("unexpected error", exc_info=error)
        return problem(500, "internal_error", "Internal error", "an unexpected error occurred; it has been logged")


def _allowed(request: Request) -> str:
    """Every method some route of this path answers, for a 405's Allow header: asked of the
    routes themselves, each method in turn, since included routers keep their routes inside."""
    routes = request.app.router.routes
    return ", ".join(
        method
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE")
        if any(route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes)
    )
