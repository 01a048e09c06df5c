"""Who did what, when and why: the metadata every ledger event carries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from domain.errors import InvalidCommand, OccurredInFuture

SYSTEM_ACTOR = "system"


@dataclass(frozen=True, slots=True)
class Meta:
    """The context of one command, stamped on every event it records.

    ``occurred_at`` is business time (when it happened in the world), as opposed to
    ``recorded_at``, the ledger's clock when it ran the command, which every event of the
    command carries as its ``timestamp`` (None: the event's own creation time).
    """

    occurred_at: datetime
    actor: str = SYSTEM_ACTOR
    correlation_id: str = ""
    causation_id: str | None = None
    recorded_at: datetime | None = None

    @classmethod
    def at(
        cls,
        now: datetime,
        occurred_at: datetime | None = None,
        *,
        actor: str = SYSTEM_ACTOR,
        correlation_id: str = "",
        causation_id: str | None = None,
    ) -> Meta:
        """Meta for a command run at ``now``; business time defaults to ``now``."""
        when = now if occurred_at is None else occurred_at
        if when.tzinfo is None or when.utcoffset() is None:
            raise InvalidCommand("occurred_at must carry a time zone")
        try:
            when = when.astimezone(UTC)
        except OverflowError:
            raise InvalidCommand("occurred_at is outside the times the ledger can hold") from None
        if when > now:
            raise OccurredInFuture(f"occurred_at {when.isoformat()} is after the ledger's clock {now.isoformat()}")
        return cls(when, actor, correlation_id, causation_id, now)

    def caused_by(self, causation_id: str) -> Meta:
        """The same context for an event another event caused."""
        return Meta(self.occurred_at, self.actor, self.correlation_id, causation_id, self.recorded_at)

    def fields(self) -> dict[str, Any]:
        return {
            "occurred_at": self.occurred_at,
            "actor": self.actor,
            "correlation_id": self.correlation_id,
            "causation_id": self.causation_id,
            "timestamp": self.recorded_at,
        }
