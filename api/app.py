"""The FastAPI application factory."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from api.bootstrap import Container


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


def create_app(container: Container) -> FastAPI:
    app = FastAPI(title="Order and inventory ledger", version="0.1.0")
    app.state.container = container

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], response_model=None)
    def readyz(container: ContainerDep) -> dict[str, Any] | JSONResponse:
        """The ledger's database answers."""
        try:
            position = container.ledger.recorder.max_notification_id()
        except Exception as error:  # noqa: BLE001 - any failure means not ready
            return JSONResponse({"status": "unavailable", "detail": str(error)}, status_code=503)
        return {"status": "ready", "position": position or 0}

    return app
