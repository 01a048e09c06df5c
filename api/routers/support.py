"""The support page: plain HTML, CSS and JavaScript from the package, no build step.

The page itself is public and holds no data; it asks for an API key and reads the
order and its timeline through the same routes as any client, under the key's role.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import BaseModel, Field

from api.deps import authenticate
from api.errors import READ_ERRORS
from api.keys import Principal, Role
from commands.registry import COMMANDS

router = APIRouter(include_in_schema=False)
me_router = APIRouter()

_TYPES = {
    "index.html": "text/html; charset=utf-8",
    "support.js": "text/javascript; charset=utf-8",
    "support.css": "text/css; charset=utf-8",
}
# Only the page's own files run: data shown from the API can never become script.
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self';"
    " base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@cache
def _read(name: str) -> bytes:
    return files("api").joinpath("support", name).read_bytes()


def _serve(name: str) -> Response:
    return Response(_read(name), media_type=_TYPES[name], headers=_HEADERS)


@router.get("/support")
def support_page() -> Response:
    return _serve("index.html")


@router.get("/support/{name}")
def support_asset(name: Literal["support.js", "support.css"]) -> Response:
    return _serve(name)


class Me(BaseModel):
    actor: str = Field(description="How events name this key: its role and name.")
    role: Role
    commands: list[str] = Field(description="The commands this key may send, by name (as in the bulk import).")


@me_router.get("/v1/me", response_model=Me, responses=READ_ERRORS, tags=["keys"])
def who_am_i(principal: Annotated[Principal, Depends(authenticate)]) -> Me:
    """The key's actor and role, and which commands it may send: the support console shows only those."""
    allowed = [spec.name for spec in COMMANDS if principal.role is Role.ADMIN or principal.role.value in spec.roles]
    return Me(actor=principal.actor, role=principal.role, commands=allowed)
