"""What a projection is: tables it owns, and how a batch of events changes them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from psycopg import Cursor, sql

from commands.eventstore.names import READ_SCHEMA
from projections.events import Recorded


class Tables:
    """A projection's table names; a rebuild writes to the same names with a suffix."""

    def __init__(self, names: tuple[str, ...], suffix: str = "") -> None:
        self.names = names
        self.suffix = suffix

    def __getitem__(self, name: str) -> sql.Identifier:
        if name not in self.names:
            raise KeyError(name)
        return sql.Identifier(READ_SCHEMA, name + self.suffix)

    def bare(self, name: str) -> str:
        return name + self.suffix

    def items(self) -> Mapping[str, sql.Identifier]:
        return {name: self[name] for name in self.names}


class Projection(Protocol):
    name: str
    tables: tuple[str, ...]

    def create(self, cur: Cursor[Any], t: Tables) -> None:
        """Create the tables (IF NOT EXISTS): called by the upgrade and before a rebuild."""

    def apply(self, cur: Cursor[Any], batch: list[Recorded], t: Tables) -> None:
        """Apply a batch of events, in ledger order, inside the runner's transaction."""
