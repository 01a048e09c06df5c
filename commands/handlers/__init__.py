"""One handler per command: load through the unit of work, decide in the domain."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from commands.unit_of_work import UnitOfWork
from domain.base import LedgerAggregate
from domain.errors import InvalidCommand
from domain.meta import Meta


@dataclass(frozen=True, slots=True)
class Outcome:
    """The resource a command acted on: its public id and its aggregate."""

    id: str
    aggregate: LedgerAggregate
    extra: dict[str, Any] = field(default_factory=dict)


Handler = Callable[[Any, UnitOfWork, Meta], Outcome]


def given_id(value: str | None, name: str) -> str:
    """An id the ledger fills in before handling; missing only if a caller skipped that."""
    if not value:
        raise InvalidCommand(f"{name} is required")
    return value
