"""One router per resource."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from commands.contracts import CommandResult


def answer(result: CommandResult, status_code: int = 200, location: str | None = None) -> JSONResponse:
    """A command's answer: id, version and position, with the version as the ETag."""
    headers = {"ETag": f'"{result.version}"'}
    if result.replayed:
        headers["Idempotent-Replayed"] = "true"
    if location is not None:
        headers["Location"] = location
    return JSONResponse(result.as_dict(), status_code=status_code, headers=headers)
