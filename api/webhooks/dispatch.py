"""The dispatcher: turns the ledger's events into webhook deliveries, one transaction a batch.

It reads the events after the furthest-behind subscription's position, decides for each
subscription which of them it asked for (type, channel, location), writes one delivery per
match with the exact body that will be signed and sent, and moves every subscription's
position to the batch's last event, all in one transaction: a crash leaves deliveries and
positions agreeing, and running a batch again writes nothing new. A replay (a position set
back) makes the deliveries after it pending again.

The body carries the event and its stream's state right after it: the dispatcher folds the
domain's own Order and StockItem forward, event by event, from the ledger's repository.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import Mapper
from psycopg import Connection, sql
from psycopg.rows import dict_row

from api.stream_states import StreamStates
from api.webhooks import documents
from api.webhooks.store import BODIES, DELIVERIES, SUBSCRIPTIONS
from commands.ledger import Ledger
from domain.orders import Order
from domain.stock import StockItem
from projections.events import Recorded, decode
from projections.runner import LAST, SELECT_EVENTS

log = logging.getLogger(__name__)

_SELECT_SUBSCRIPTIONS = sql.SQL(
    "SELECT id, position, event_types, channel, location_id FROM {} ORDER BY id FOR UPDATE"
).format(SUBSCRIPTIONS)
_BODY = sql.SQL(
    "INSERT INTO {} (position, stream_id, event_type, body) VALUES (%s, %s, %s, %s)"
    " ON CONFLICT (position) DO UPDATE SET body = EXCLUDED.body"
).format(BODIES)
_INSERT = sql.SQL(
    "INSERT INTO {} (subscription_id, position, stream_id) VALUES (%s, %s, %s)"
    " ON CONFLICT (subscription_id, position) DO UPDATE SET state = 'pending',"
    " attempts = 0, next_attempt_at = now(), delivered_at = NULL"
).format(DELIVERIES)
# What the dispatcher and the sender write is bookkeeping that a crash may lose without harm (a
# batch dispatched again, an attempt sent again), so they do not wait for the disk: the ledger's
# own commits keep the WAL flushes.
ASYNC_COMMIT = "SET LOCAL synchronous_commit = off"
_ADVANCE = sql.SQL("UPDATE {} SET position = %s WHERE id = ANY(%s) AND position < %s").format(SUBSCRIPTIONS)


@dataclass(frozen=True, slots=True)
class _Wanted:
    id: str
    position: int
    types: frozenset[str] | None
    channel: str | None
    location_id: str | None

    def matches(self, recorded: Recorded, state: Order | StockItem | None) -> bool:
        if recorded.position <= self.position or (self.types is not None and recorded.kind not in self.types):
            return False
        if self.channel is not None and not (isinstance(state, Order) and state.channel == self.channel):
            return False
        return self.location_id is None or (state is not None and self.location_id in documents.locations_of(state))


class Dispatcher:
    def __init__(
        self,
        ledger: Ledger,
        mapper: Mapper[UUID],
        batch_size: int = 1000,
        cache_size: int = 10_000,
    ) -> None:
        self.mapper = mapper
        self.batch_size = batch_size
        self.states = StreamStates(ledger, cache_size)

    def run_once(self, conn: Connection[Any]) -> int:
        """Dispatch the next batch; the number of events looked at (0: every subscription is current)."""
        with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            wanted = [
                _Wanted(
                    row["id"],
                    row["position"],
                    frozenset(row["event_types"]) if row["event_types"] is not None else None,
                    row["channel"],
                    row["location_id"],
                )
                for row in cur.execute(_SELECT_SUBSCRIPTIONS).fetchall()
            ]
            if not wanted:
                return 0
            low = min(w.position for w in wanted)
            rows = cur.execute(SELECT_EVENTS, (low, LAST, self.batch_size)).fetchall()
            if not rows:
                return 0
            cur.execute(ASYNC_COMMIT)
            # Only the events some subscription asks for are decoded and folded: what no one
            # wants costs a look at its topic. A stream held at a version an unasked event went
            # past is loaded afresh when next asked for (StreamStates checks the version).
            asked = [row for row in rows if _asked_for(row, wanted)]
            bodies, deliveries = self._deliveries(decode(self.mapper, asked), wanted)
            if deliveries:
                cur.executemany(_BODY, bodies)
                cur.executemany(_INSERT, deliveries)
            last = rows[-1]["notification_id"]
            cur.execute(_ADVANCE, (last, [w.id for w in wanted], last))
        return len(rows)

    def _deliveries(
        self, batch: list[Recorded], wanted: list[_Wanted]
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        bodies: list[tuple[Any, ...]] = []
        out: list[tuple[Any, ...]] = []
        for recorded in batch:
            interested = [
                w for w in wanted if recorded.position > w.position and (w.types is None or recorded.kind in w.types)
            ]
            state = self.states.after(recorded, needed=bool(interested))
            matched = [w for w in interested if w.matches(recorded, state)]
            if not matched:
                continue
            bodies.append((recorded.position, recorded.stream_id, recorded.kind, orjson.dumps(_body(recorded, state))))
            out.extend((w.id, recorded.position, recorded.stream_id) for w in matched)
        return bodies, out


def _asked_for(row: dict[str, Any], wanted: list[_Wanted]) -> bool:
    kind = row["topic"].rsplit(":", 1)[-1]
    position = row["notification_id"]
    return any(position > w.position and (w.types is None or kind in w.types) for w in wanted)


def _body(recorded: Recorded, state: Order | StockItem | None) -> dict[str, Any]:
    """The Standard Webhooks payload: ``type``, ``timestamp`` and ``data``."""
    event = recorded.event
    data: dict[str, Any] = {
        "position": recorded.position,
        "stream_id": str(recorded.stream_id),
        "version": recorded.version,
        "event": documents.plain(event),
    }
    if isinstance(state, Order):
        data["order"] = documents.order_state(state)
    elif isinstance(state, StockItem):
        data["stock_item"] = documents.stock_state(state)
    return {"type": recorded.kind, "timestamp": documents.plain(event.occurred_at), "data": data}
