from __future__ import annotations

from uuid import UUID

from commands.handlers import Handled, Peek
from commands.messages import RegisterLocation
from commands.unit_of_work import UnitOfWork
from domain.errors import AlreadyExists
from domain.locations import Location, LocationDirectory
from domain.meta import Meta


def register_location(cmd: RegisterLocation, uow: UnitOfWork, meta: Meta) -> Handled:
    if uow.get(Location, Location.id_for(cmd.location_id)) is not None:
        raise AlreadyExists(f"location {cmd.location_id!r} is already registered")
    directory = uow.directory() or uow.add(LocationDirectory.start(meta))
    location = uow.add(Location.register(cmd.location_id, cmd.name, cmd.kind, cmd.priority, meta))
    directory.add(cmd.location_id, cmd.priority, meta)
    return Handled(cmd.location_id, location)


def register_location_reads(cmd: RegisterLocation, peek: Peek) -> list[UUID]:
    return [Location.id_for(cmd.location_id), LocationDirectory.ID]
