"""Every command's REST route, made from its registry entry (``commands.registry``).

Each route takes the ids its path names and the body schema that declares the command's message
(``CommandBody.command``), runs the command through the writer and answers its id, version and
position, with the version as the ETag."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from api.deps import Commands, commands_for
from api.errors import COMMAND_ERRORS
from api.keys import Role
from api.routers import answer
from api.routers.paths import (
    HoldIdPath,
    LocationIdPath,
    OrderIdPath,
    ReturnIdPath,
    RuleIdPath,
    ShipmentIdPath,
    SkuPath,
    TransferIdPath,
)
from api.schemas import desk, inventory, orders
from api.schemas.common import CommandAnswer, CommandBody
from commands.messages import Command
from commands.registry import COMMANDS, CommandSpec

# Each path parameter, held to the same limits as the ids in bodies.
PATH_PARAMETERS: Mapping[str, object] = {
    "order_id": OrderIdPath,
    "shipment_id": ShipmentIdPath,
    "return_id": ReturnIdPath,
    "transfer_id": TransferIdPath,
    "sku": SkuPath,
    "location_id": LocationIdPath,
    "hold_id": HoldIdPath,
    "rule_id": RuleIdPath,
}

_SCHEMA_MODULES = (inventory, orders, desk)  # where the body schemas are declared


def bodies() -> dict[type[Command], type[CommandBody]]:
    """Each command's body schema, found by the message it declares."""
    found: dict[type[Command], type[CommandBody]] = {}
    for module in _SCHEMA_MODULES:
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, CommandBody) and value is not CommandBody:
                found[value.command] = value
    return found


def command_router() -> APIRouter:
    router = APIRouter()
    schemas = bodies()
    for spec in COMMANDS:
        route = spec.route
        router.add_api_route(
            route.path,
            _endpoint(spec, schemas[spec.message]),
            methods=[route.method],
            status_code=route.status,
            response_model=CommandAnswer,
            responses=COMMAND_ERRORS,
            tags=[route.tag],
            name=spec.name,
            description=spec.summary,
        )
    return router


def _endpoint(spec: CommandSpec, body: type[CommandBody]) -> Callable[..., Awaitable[JSONResponse]]:
    route = spec.route
    names = route.parameters()
    sender = Annotated[Commands, Depends(commands_for(*(Role(r) for r in spec.roles)))]

    async def endpoint(**given: Any) -> JSONResponse:
        commands = given.pop("commands")
        sent: CommandBody = given.pop("body") or body()  # a body of defaults may be left out
        path = {name: given[name] for name in names}
        result = await commands.run(sent.to_command(**path))  # type: ignore[attr-defined]
        location = None
        if route.location and not result.extra.get("dry_run"):
            location = route.location.format(**{**result.extra, **path, "id": result.id})
        return answer(result, route.status, location=location)

    parameters = [
        *(inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, annotation=PATH_PARAMETERS[n]) for n in names),
        inspect.Parameter("body", inspect.Parameter.KEYWORD_ONLY, annotation=body | None, default=None)
        if all(not field.is_required() for field in body.model_fields.values())
        else inspect.Parameter("body", inspect.Parameter.KEYWORD_ONLY, annotation=body),
        inspect.Parameter("commands", inspect.Parameter.KEYWORD_ONLY, annotation=sender),
    ]
    endpoint.__signature__ = inspect.Signature(parameters, return_annotation=JSONResponse)  # type: ignore[attr-defined]
    endpoint.__name__ = endpoint.__qualname__ = spec.name
    endpoint.__doc__ = spec.summary
    return endpoint
