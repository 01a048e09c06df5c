"""Reading the ledger: stored events decoded into domain events, with their positions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    StoredEvent,
    UUIDAsHex,
)

from commands.transcoder import register_domain_transcodings


def make_mapper() -> Mapper[UUID]:
    """A mapper that reads what the Ledger writes (same transcodings, no cipher)."""
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    register_domain_transcodings(transcoder)
    return Mapper(transcoder=transcoder)


@dataclass(frozen=True, slots=True)
class Recorded:
    """One event as a projection sees it: its ledger position and the domain event."""

    position: int
    stream_id: UUID
    version: int
    topic: str
    event: Any

    @property
    def kind(self) -> str:
        """``Aggregate.Event``, e.g. ``Order.Placed``."""
        return self.topic.rsplit(":", 1)[-1]


def decode(mapper: Mapper[UUID], rows: list[dict[str, Any]]) -> list[Recorded]:
    out = []
    for row in rows:
        stored = StoredEvent(row["originator_id"], row["originator_version"], row["topic"], bytes(row["state"]))
        out.append(
            Recorded(
                row["notification_id"],
                row["originator_id"],
                row["originator_version"],
                row["topic"],
                mapper.to_domain_event(stored),
            )
        )
    return out
