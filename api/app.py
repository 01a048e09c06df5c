"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline

from api import __version__, errors, openapi
from api.bootstrap import Container
from api.deps import ContainerDep
from api.http_protocol import GuardedHttpTools
from api.metrics import CONTENT_TYPE
from api.middleware import BodyLimit, Observe
from api.routers import (
    audit,
    customers,
    events,
    finance,
    imports,
    kpis,
    locations,
    order_desk,
    orders,
    projections,
    stock,
    support,
    tracking,
    webhooks,
)
from api.routers.commands import command_router
from projections.admin import head

DESCRIPTION = """
An event-sourced order and inventory ledger. Every request needs `Authorization: Bearer <API key>`.

Commands answer the resource `id`, its new `version` (also the `ETag`) and the ledger `position`
of the last event written. They accept `If-Match: "<version>"` (stale: 412) and `Idempotency-Key`
(a repeat returns the first answer; with another body, 422). Errors are `application/problem+json`
with a stable `code`.
"""


# /readyz answers within this, whatever the database does: a load balancer must not hang on it.
READY_SECONDS = 1.5


def _ledger_head(container: Container) -> int:
    with container.pool.connection(timeout=READY_SECONDS) as conn:
        return head(conn)


def create_app(container: Container, *, close_on_shutdown: bool = False) -> FastAPI:
    """The app over ``container``; an HTTP worker process's app also closes it when the server stops."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if close_on_shutdown:
                container.close()

    # Swagger UI and ReDoc served from the package's own files: /docs works with no network.
    app = FastAPIOffline(
        title="Order and inventory ledger",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        generate_unique_id_function=openapi.operation_id,
        static_url="/docs-assets",
    )
    openapi.install(app)
    app.state.container = container
    errors.install(app)
    for router in (
        command_router(),
        locations.router,
        orders.router,
        order_desk.router,
        order_desk.rules_router,
        imports.router,
        stock.router,
        kpis.router,
        finance.router,
        projections.router,
        audit.router,
        audit.as_of_router,
        events.router,
        customers.router,
        support.router,
        support.me_router,
        webhooks.router,
        tracking.router,
    ):
        app.include_router(router)
    settings = container.settings
    GuardedHttpTools.limit(settings.max_header_bytes, settings.header_timeout_seconds)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes, max_import_bytes=settings.max_import_bytes)
    app.add_middleware(Observe, metrics=container.metrics, log_requests=settings.access_log)

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get(
        "/metrics",
        tags=["operations"],
        operation_id="getMetrics",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE: {"schema": {"type": "string"}}}, "description": "Prometheus text"}},
    )
    async def metrics(container: ContainerDep) -> Response:
        """Prometheus metrics of the service (every HTTP process's, with --workers): requests, commands,
        group commits, conflicts, imports, projection lag and connection pools. No key needed; it
        holds no personal data and no key."""
        body = await asyncio.to_thread(container.metrics.exposition, container)
        return Response(body, media_type=CONTENT_TYPE)

    @app.get(
        "/readyz",
        tags=["operations"],
        operation_id="getReadiness",
        response_model=None,
        responses={503: {"model": errors.Problem, "description": "The database or the writer is not available"}},
    )
    async def readyz(container: ContainerDep) -> dict[str, Any] | JSONResponse:
        """Ready to take commands: the writer runs and the database answers, within 2 seconds."""
        if not container.writer.alive:
            return errors.problem(503, "writer_unavailable", "The ledger's writer is not running", "not ready")
        try:
            position = await asyncio.wait_for(asyncio.to_thread(_ledger_head, container), READY_SECONDS)
        except Exception as error:  # noqa: BLE001 - a time-out or any database failure means not ready
            detail = "the database did not answer in time" if isinstance(error, TimeoutError) else str(error)
            return errors.problem(503, "database_unavailable", "The database is not answering", detail)
        return {"status": "ready", "position": position}

    return app
