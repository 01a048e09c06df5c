"""Orders and stock items as they stood right after a given event, for what leaves the ledger.

The webhook dispatcher and the notifier follow the ledger in order; each keeps the streams it
has seen lately and folds the domain's own events forward (``event.mutate``), so a body or an
email says exactly what the write side decided. A stream not held, or held at another version
(after a replay), is loaded at the version before the event: from its latest snapshot whose seal
checks, as the write side loads, then its events.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any
from uuid import UUID

from commands.ledger import Ledger
from domain.orders import Order
from domain.stock import StockItem
from projections.events import Recorded

State = Order | StockItem


class StreamStates:
    def __init__(self, ledger: Ledger, cache_size: int = 10_000) -> None:
        self.ledger = ledger
        self.cache_size = cache_size
        self._held: OrderedDict[UUID, State] = OrderedDict()

    def after(self, recorded: Recorded, *, needed: bool = True) -> State | None:
        """The stream's state after ``recorded``. With ``needed`` false, a stream not held
        current costs no load (and is then not held)."""
        if not recorded.kind.startswith(("Order.", "StockItem.")):
            return None
        known = self._held.get(recorded.stream_id)
        if known is None or known.version != recorded.version - 1:
            if not needed:
                self._held.pop(recorded.stream_id, None)
                return None
            known = self._load(recorded.stream_id, recorded.version - 1)
        state = recorded.event.mutate(known)
        if not isinstance(state, Order | StockItem):
            return None
        self._held[recorded.stream_id] = state
        self._held.move_to_end(recorded.stream_id)
        while len(self._held) > self.cache_size:
            self._held.popitem(last=False)
        return state

    def _load(self, stream_id: UUID, version: int) -> State | None:
        """The stream at ``version``: from its latest snapshot if that is not newer and its seal
        checks (the write side's own check), then its events up to the version."""
        if version < 1:
            return None
        ledger = self.ledger
        state: Any = None
        after: int | None = None
        snapshots = ledger.store.latest_snapshots([stream_id])
        if snapshots and snapshots[0].originator_version <= version:
            state = ledger.mapper.to_domain_event(snapshots[0]).mutate(None)  # type: ignore[attr-defined]
            after = snapshots[0].originator_version
        for stored in ledger.recorder.select_events(stream_id, gt=after, lte=version):
            state = ledger.mapper.to_domain_event(stored).mutate(state)  # type: ignore[attr-defined]
        return state if isinstance(state, Order | StockItem) else None
