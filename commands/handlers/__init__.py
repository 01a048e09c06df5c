"""One handler per command: decide in the domain on what the prefetch loaded.

Beside each handler, its ``reads``: every stream it may load, given what the prefetch has found
so far (``peek``), so that the pipeline loads a whole batch's streams before deciding."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from commands.unit_of_work import UnitOfWork
from domain.base import LedgerAggregate
from domain.errors import InvalidCommand
from domain.meta import Meta


@dataclass(frozen=True, slots=True)
class Handled:
    """The resource a command acted on: its public id and its aggregate."""

    id: str
    aggregate: LedgerAggregate
    extra: dict[str, Any] = field(default_factory=dict)


Handler = Callable[[Any, UnitOfWork, Meta], Handled]
# What the prefetch has loaded so far: an aggregate, or None (absent, or not loaded yet).
Peek = Callable[[UUID], LedgerAggregate | None]
Reads = Callable[[Any, Peek], Iterable[UUID]]


def given_id(value: str | None, name: str) -> str:
    """An id the ledger fills in before handling; missing only if a caller skipped that."""
    if not value:
        raise InvalidCommand(f"{name} is required")
    return value
