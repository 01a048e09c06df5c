"""Locations where stock is kept, and the directory that ranks them for sourcing."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

from domain.base import LedgerAggregate, stream_id
from domain.errors import AlreadyExists, InvalidCommand
from domain.meta import Meta


class LocationKind(StrEnum):
    WAREHOUSE = "warehouse"
    STORE = "store"
    DISTRIBUTION_CENTER = "distribution_center"
    DROPSHIP = "dropship"
    THIRD_PARTY = "third_party"


@dataclass(frozen=True, slots=True)
class RankedLocation:
    location_id: str
    priority: int


class Location(LedgerAggregate):
    def __init__(self, location_id: str, name: str, kind: str, priority: int) -> None:
        self.location_id = location_id
        self.name = name
        self.kind = kind
        self.priority = priority

    @staticmethod
    def id_for(location_id: str) -> UUID:
        return stream_id("location", location_id)

    @classmethod
    def register(cls, location_id: str, name: str, kind: LocationKind, priority: int, meta: Meta) -> Location:
        if isinstance(priority, bool) or not isinstance(priority, int) or priority < 0:
            raise InvalidCommand(f"priority must be a non-negative integer, got {priority!r}")
        if not name.strip():
            raise InvalidCommand("name must not be blank")
        return cls._create(
            cls.Registered,
            id=cls.id_for(location_id),
            location_id=location_id,
            name=name,
            kind=kind.value,
            priority=priority,
            **meta.fields(),
        )

    class Registered(LedgerAggregate.Created):
        location_id: str
        name: str
        kind: str
        priority: int


class LocationDirectory(LedgerAggregate):
    """Every location's rank, in one stream, so sourcing reads one aggregate.

    Lower priority numbers are tried first; ties go by location id.
    """

    def __init__(self) -> None:
        self.priorities: dict[str, int] = {}

    ID = stream_id("location-directory")

    @classmethod
    def start(cls, meta: Meta) -> LocationDirectory:
        return cls._create(cls.Started, id=cls.ID, **meta.fields())

    def add(self, location_id: str, priority: int, meta: Meta) -> None:
        if location_id in self.priorities:
            raise AlreadyExists(f"location {location_id!r} is already registered")
        self.trigger_event(self.LocationAdded, **meta.fields(), location_id=location_id, priority=priority)

    def contains(self, location_id: str) -> bool:
        return location_id in self.priorities

    def ranked(self) -> list[RankedLocation]:
        return [
            RankedLocation(location_id, priority)
            for location_id, priority in sorted(self.priorities.items(), key=lambda kv: (kv[1], kv[0]))
        ]

    class Started(LedgerAggregate.Created):
        pass

    class LocationAdded(LedgerAggregate.Event):
        location_id: str
        priority: int

        def apply(self, aggregate: LocationDirectory) -> None:
            aggregate.priorities[self.location_id] = self.priority
