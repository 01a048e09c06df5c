"""Request dependencies: the container, the caller's key and role, and the command context."""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from typing import Annotated, Any

from fastapi import Depends, Header, Query, Request
from starlette.concurrency import run_in_threadpool

from api.bootstrap import Container
from api.errors import Forbidden, Unauthenticated
from api.keys import Principal, Role
from api.schemas.common import VISIBLE_ASCII_PATTERN
from commands.contracts import CommandContext, CommandResult, Writer
from commands.ledger import Ledger
from commands.messages import Command
from domain.errors import InvalidCommand


# The dependencies are async and do no blocking I/O (a key not in the cache is looked up
# in a worker thread), so a request does not hop threads for each of them.
async def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


async def get_ledger(container: ContainerDep) -> Ledger:
    return container.ledger


LedgerDep = Annotated[Ledger, Depends(get_ledger)]


Authorization = Annotated[str | None, Header(description="Bearer <API key>")]


async def authenticate(request: Request, container: ContainerDep, authorization: Authorization = None) -> Principal:
    return await _principal(request, container, authorization)


async def _principal(request: Request, container: Container, authorization: str | None) -> Principal:
    if not authorization:
        raise Unauthenticated("send Authorization: Bearer <API key>")
    scheme, _, key = authorization.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthenticated("send Authorization: Bearer <API key>")
    known, principal = container.keys.remembered(key.strip())
    if not known:
        principal = await run_in_threadpool(container.keys.authenticate, key.strip())
    if principal is None:
        raise Unauthenticated("the API key is unknown or revoked")
    request.state.actor = principal.actor  # for the request's log line: who, never the key
    return principal


def require(*roles: Role) -> Callable[[Principal], Coroutine[Any, Any, Principal]]:
    """A dependency that admits admins and the given roles."""
    allowed = _admitting(*roles)

    async def check(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        return _admitted(principal, allowed)

    return check


def _admitting(*roles: Role) -> frozenset[Role]:
    return frozenset({Role.ADMIN, *roles})


def _admitted(principal: Principal, allowed: frozenset[Role]) -> Principal:
    if principal.role not in allowed:
        raise Forbidden(
            f"role {principal.role.value!r} may not do this; allowed: {', '.join(sorted(r.value for r in allowed))}"
        )
    return principal


_KEY = re.compile(VISIBLE_ASCII_PATTERN)
_IF_MATCH = re.compile(r'^\s*(?:W/)?"?(\d{1,18})"?\s*$')


IdempotencyKey = Annotated[str | None, Header(description="Run the command once: a repeat returns the first answer.")]
IfMatch = Annotated[str | None, Header(description="The version (ETag) the command expects; stale: 412.")]
CausationId = Annotated[str | None, Header(description="What caused this command, for the audit trail.")]
DryRun = Annotated[
    bool, Query(description="Decide and answer (new totals, stock effects, balance) without writing anything.")
]
_SENDERS = _admitting(Role.INTEGRATOR)


@dataclass(frozen=True, slots=True)
class Commands:
    """The writer, and who sends this request's command under which headers."""

    writer: Writer
    context: CommandContext
    state: Any  # the request's state, where the log line finds the command's name

    async def run(self, command: Command) -> CommandResult:
        self.state.command = type(command).__name__
        return await self.writer.submit(command, self.context)


def commands_for(*roles: Role) -> Callable[..., Coroutine[Any, Any, Commands]]:
    """The dependency of command routes that admins and ``roles`` may send, with ``dry_run``."""
    allowed = _admitting(*roles)

    async def dependency(
        request: Request,
        *,
        authorization: Authorization = None,
        idempotency_key: IdempotencyKey = None,
        if_match: IfMatch = None,
        x_causation_id: CausationId = None,
        dry_run: DryRun = False,
    ) -> Commands:
        return await _commands(request, allowed, authorization, idempotency_key, if_match, x_causation_id, dry_run)

    return dependency


async def commands(
    request: Request,
    authorization: Authorization = None,
    idempotency_key: IdempotencyKey = None,
    if_match: IfMatch = None,
    x_causation_id: CausationId = None,
) -> Commands:
    """What a command route needs, as one dependency: each one FastAPI resolves costs every
    request, and commands are the requests that come by the thousand."""
    return await _commands(request, _SENDERS, authorization, idempotency_key, if_match, x_causation_id, False)


async def _commands(  # noqa: PLR0917 (the request's headers, as FastAPI hands them over)
    request: Request,
    allowed: frozenset[Role],
    authorization: str | None,
    idempotency_key: str | None,
    if_match: str | None,
    x_causation_id: str | None,
    dry_run: bool,
) -> Commands:
    container: Container = request.app.state.container
    principal = _admitted(await _principal(request, container, authorization), allowed)
    context = _context(request, principal, idempotency_key, if_match, x_causation_id)
    if dry_run:  # nothing is written, so nothing is recorded under a key either
        context = replace(context, dry_run=True, idempotency_key=None)
    return Commands(container.writer, context, request.state)


CommandsDep = Annotated[Commands, Depends(commands)]


def _context(
    request: Request,
    principal: Principal,
    idempotency_key: str | None,
    if_match: str | None,
    x_causation_id: str | None,
) -> CommandContext:
    if idempotency_key is not None and not _KEY.match(idempotency_key):
        raise InvalidCommand("Idempotency-Key must be 1 to 255 visible ASCII characters")
    expected = None
    if if_match is not None:
        match = _IF_MATCH.match(if_match)
        if match is None:
            raise InvalidCommand('If-Match must be a version, such as "3"')
        expected = int(match.group(1))
    if x_causation_id is not None and not _KEY.match(x_causation_id):
        raise InvalidCommand("X-Causation-Id must be 1 to 255 visible ASCII characters")
    return CommandContext(
        actor=principal.actor,
        correlation_id=request.state.request_id,
        causation_id=x_causation_id,
        idempotency_key=idempotency_key,
        expected_version=expected,
    )
