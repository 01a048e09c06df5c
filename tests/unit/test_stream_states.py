"""The state after each event, as webhooks and emails tell it: folded forward from what was held,
or loaded cold at any version (from a snapshot not newer than it, or from the first event), it
is always what the ledger's own repository gives at that version."""

from __future__ import annotations

from eventsourcing.persistence import StoredEvent

from api.stream_states import StreamStates
from commands.ledger import Ledger
from domain.stock import StockItem
from projections.events import Recorded, make_mapper
from tests.helpers import receive, register


def recorded(ledger: Ledger) -> list[Recorded]:
    mapper = make_mapper()
    out = []
    for n in ledger.recorder.select_notifications(start=1, limit=10_000):  # type: ignore[attr-defined]
        stored = StoredEvent(n.originator_id, n.originator_version, n.topic, n.state)
        out.append(Recorded(n.id, n.originator_id, n.originator_version, n.topic, mapper.to_domain_event(stored)))
    return out


def test_states_after_each_event_equal_the_repositorys_whether_folded_or_loaded(ledger: Ledger) -> None:
    register(ledger, "main")
    for _ in range(230):  # snapshots at versions 100 and 200
        receive(ledger, "A", "main", 1)
    events = [r for r in recorded(ledger) if r.kind.startswith("StockItem.")]
    assert ledger.store.latest_snapshots([StockItem.id_for("A", "main")])[0].originator_version == 200
    following = StreamStates(ledger)
    for r in events:
        state = following.after(r)
        assert isinstance(state, StockItem)
        assert state.balances == ledger.repository.get(r.stream_id, version=r.version).balances
    for version in (150, 201, 230):  # a newer snapshot is not used; an older one is
        cold = StreamStates(ledger).after(events[version - 1])
        assert isinstance(cold, StockItem) and cold.version == version and cold.available == version - 1
    skipping = StreamStates(ledger)
    assert skipping.after(events[5], needed=False) is None  # nothing held, nothing needed: no load
    assert skipping.after(events[6]).version == 7  # type: ignore[union-attr]
