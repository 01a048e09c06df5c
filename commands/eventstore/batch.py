"""What one transaction of the event store writes, and what the insert reports back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple
from uuid import UUID

from eventsourcing.persistence import IntegrityError, OperationalError, StoredEvent


def as_uuid(value: UUID | str) -> UUID:
    """A stream id as the library may hand it over (a UUID, or its text)."""
    return value if isinstance(value, UUID) else UUID(value)


class EventTime(NamedTuple):
    """One event's business and recorded times, indexed for as-of reads."""

    stream: UUID
    version: int
    occurred_at: datetime
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """A command's key, the hash of what it asked, and what it answered."""

    scope: str
    key: str
    request_hash: str
    result: dict[str, Any]
    # Index, among the events saved together, of this command's last event: its position.
    # None: the last of them all.
    last_event: int | None = None

    def stored(self, positions: Sequence[int] | None) -> dict[str, Any]:
        if not positions:
            return {**self.result, "position": None}
        index = len(positions) - 1 if self.last_event is None else self.last_event
        return {**self.result, "position": positions[index]}


@dataclass(frozen=True, slots=True)
class StoredResult:
    request_hash: str
    result: dict[str, Any]
    sealed: bool = True  # False: its seal did not check, and it must not be used


@dataclass(slots=True)
class HeadCheck:
    """The ledger's last position as a writer last knew it, checked under the table lock.

    ``strict``: the writer decided without looking for other writers' events, so a head that
    moved means its cache may be stale, and the insert fails with ``HeadMoved``. Either way
    the insert leaves the head it saw in ``seen``."""

    expected: int
    strict: bool
    seen: int | None = None

    def see(self, head: int) -> None:
        self.seen = head
        if self.strict and head != self.expected:
            raise HeadMoved(f"another writer saved events after position {self.expected}")


@dataclass(slots=True)
class WriteBatch:
    """Everything one group commit writes: the events with their time-index rows and the
    commands' idempotency records in one transaction (the chain rows are computed under the
    lock), then the snapshots the events made due."""

    events: list[StoredEvent]
    times: list[EventTime] = field(default_factory=list)
    idempotency: list[IdempotencyRecord] = field(default_factory=list)
    snapshots: list[StoredEvent] = field(default_factory=list)
    head: HeadCheck | None = None


class HeadMoved(IntegrityError):
    """Another writer saved events since this writer last looked: nothing was saved."""


class CommitOutcomeUnknown(OperationalError):
    """The connection failed while a batch was committed, and the database could not be asked in time
    whether the commit went through. Running the batch again could save it twice: only a command
    with an idempotency key can safely be sent again."""
