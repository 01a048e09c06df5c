"""The base aggregate: every event it records carries the command's metadata."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.errors import InvalidCommand

_NAMESPACE = uuid5(NAMESPACE_URL, "urn:oms:ledger")


@lru_cache(maxsize=65_536)  # hot SKUs and orders are named again and again
def stream_id(kind: str, *parts: str) -> UUID:
    """A deterministic stream id, so a command finds an aggregate without an index.

    The parts are joined with a NUL, which no validated identifier contains, so
    distinct part tuples never collide.
    """
    return uuid5(_NAMESPACE, "\x00".join((kind, *parts)))


def require_positive(quantity: int, what: str = "quantity") -> None:
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
        raise InvalidCommand(f"{what} must be a positive integer, got {quantity!r}")


class LedgerAggregate(Aggregate):
    class Event(Aggregate.Event):
        occurred_at: datetime
        actor: str
        correlation_id: str
        causation_id: str | None

    class Created(Event, Aggregate.Created):
        pass
