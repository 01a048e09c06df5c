"""What each phase of the pipeline hands to the next: a command asked, admitted and decided; a
batch prefetched, decided, encoded, or decided ahead of its save."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, TypeVar
from uuid import UUID

from commands import messages as m
from commands.contracts import Answer, Answers, CommandContext, CommandResult, Items
from commands.eventstore.batch import WriteBatch
from commands.registry import CommandSpec
from commands.unit_of_work import UnitOfWork
from domain.base import LedgerAggregate
from domain.meta import Meta


@dataclass(frozen=True, slots=True)
class Asked:
    """A command as asked, before it is admitted."""

    index: int
    command: m.Command
    ctx: CommandContext
    request_hash: str


class Keyed(Protocol):
    """A command as far as its idempotency record is concerned."""

    @property
    def index(self) -> int: ...
    @property
    def ctx(self) -> CommandContext: ...
    @property
    def request_hash(self) -> str: ...


R = TypeVar("R", bound=Keyed)


@dataclass(frozen=True, slots=True)
class Admitted:
    """A command to decide: with ids generated once, its metadata, and its request's hash."""

    index: int
    spec: CommandSpec
    command: m.Command
    ctx: CommandContext
    meta: Meta
    request_hash: str
    new_streams: list[UUID]


@dataclass(frozen=True, slots=True)
class Decided:
    """What a command decided: its answer before the save, and the index of its last event."""

    admitted: Admitted
    result: CommandResult
    last_event: int


@dataclass(frozen=True, slots=True)
class Prefetched:
    """What a batch decides on: its unit of work, loaded. ``strict``: None when decided on loaded
    state; True when on the cache alone, so the head must not have moved since."""

    uow: UnitOfWork
    strict: bool | None


@dataclass(slots=True)
class Decision:
    """A batch decided, not yet saved."""

    events: list[LedgerAggregate.Event]
    changed: list[LedgerAggregate]
    decided: list[Decided]
    touched: list[LedgerAggregate]
    # None: decided on loaded state. True: on the cache alone, so the head must not have moved.
    strict: bool | None


@dataclass(slots=True)
class Encoded:
    """A decided batch as it will be written."""

    decision: Decision
    write: WriteBatch
    positions: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Ahead:
    """A batch decided ahead of its save: the answers so far, and what it will write."""

    answers: list[Answer | None]
    encoded: Encoded | None


def segments(items: Items) -> list[list[int]]:
    """Runs of commands that can share a transaction: a repeated idempotency key starts a new
    one, so the repeat sees the first."""
    segments, start = [], 0
    while start < len(items):
        end, keys = start, set()
        while end < len(items):
            ctx = items[end][1]
            if ctx.idempotency_key is not None:
                if (ctx.actor, ctx.idempotency_key) in keys:
                    break
                keys.add((ctx.actor, ctx.idempotency_key))
            end += 1
        segments.append(list(range(start, end)))
        start = end
    return segments


def answered(answers: list[Answer | None]) -> Answers:
    answered = [answer for answer in answers if answer is not None]
    if len(answered) != len(answers):  # callers pair answers with commands by position
        raise RuntimeError("a command of the batch was left without an answer")
    return answered
