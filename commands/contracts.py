"""What both sides of the write path agree on: a leaf module, imported by the pipeline, the
writers and the API, and importing none of them.

- ``CommandContext``: who sends a command and under which request;
- ``CommandResult``: what a command that ran answers (ids, version, ledger position);
- ``Answer``: a result or the ``LedgerError`` a rule refused the command with;
- ``Writer``: where commands go to be run (the group committer, the inline writer, or, in an
  HTTP worker process, the serving process's writer over a socket);
- ``Observer``: what the write side reports as it works, for metrics.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from typing import Any

from commands import messages as m
from domain.errors import LedgerError
from domain.meta import SYSTEM_ACTOR


@dataclass(frozen=True, slots=True)
class CommandContext:
    """Who sends a command and under which request; not part of what is asked."""

    actor: str = SYSTEM_ACTOR
    correlation_id: str = ""
    causation_id: str | None = None
    idempotency_key: str | None = None
    expected_version: int | None = None
    dry_run: bool = False  # decide and answer, write nothing


@dataclass(frozen=True, slots=True)
class CommandResult:
    id: str
    version: int
    position: int | None
    extra: dict[str, Any] = field(default_factory=dict)
    replayed: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "version": self.version, "position": self.position, **self.extra}

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> CommandResult:
        rest = {k: v for k, v in stored.items() if k not in ("id", "version", "position")}
        return cls(stored["id"], stored["version"], stored["position"], rest, replayed=True)


Answer = CommandResult | LedgerError
Answers = list[Answer]
Items = Sequence[tuple[m.Command, CommandContext]]


def fingerprint(command: m.Command) -> str:
    """A stable hash of what a command asks, ignoring ids the ledger generates."""
    body = json.dumps({"command": type(command).__name__, **asdict(command)}, sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


class Observer:
    """What the write side reports as it works, for metrics; this one ignores it all."""

    def batch_saved(self, commands: int, seconds: float) -> None:
        """A group commit of ``commands`` ran and was saved in ``seconds``."""

    def command_answered(self, command: str, result: str) -> None:
        """A command was answered: ``ok``, or its error's code."""

    def conflict(self) -> None:
        """A command or batch lost to another writer and runs again."""

    def prefetch_missed(self, streams: int) -> None:
        """A command asked for streams its declared reads did not name: they were loaded and the
        command decided again. A defect in a registry entry's ``reads``, never a wrong answer."""


def result_code(answer: object) -> str:
    """``ok``, or the stable code of the error a command was answered with."""
    if isinstance(answer, LedgerError):
        return answer.code
    return "ok" if isinstance(answer, CommandResult) else "database_unavailable"


class Stopped(RuntimeError):
    """The writer has stopped (or, seen from an HTTP process, gone away); no more commands are taken."""


class Writer(ABC):
    """Where commands go to be run, in order, each all or nothing on its own."""

    @abstractmethod
    def enqueue(self, items: Items) -> Future[Answers]:
        """Hand commands over; the future answers each with its result or error, in order."""

    @abstractmethod
    def stop(self, timeout: float = 30) -> None: ...

    @property
    @abstractmethod
    def alive(self) -> bool:
        """Whether commands handed over now would be run (for readiness checks)."""

    def execute(self, command: m.Command, ctx: CommandContext | None = None) -> CommandResult:
        """One command; raises its error."""
        (answer,) = self.execute_many([(command, ctx or CommandContext())])
        if isinstance(answer, LedgerError):
            raise answer
        return answer

    async def submit(self, command: m.Command, ctx: CommandContext | None = None) -> CommandResult:
        """``execute`` for an event loop: awaits the answer without holding a thread."""
        (answer,) = await asyncio.wrap_future(self.enqueue([(command, ctx or CommandContext())]))
        if isinstance(answer, LedgerError):
            raise answer
        return answer

    def execute_many(self, items: Items) -> Answers:
        """Commands in order, saved together; each answer a result or an error."""
        return self.enqueue(items).result()
