"""The fast event construction and the ledger's mapper store exactly what the library's own
paths store, for every event class of the domain."""

from __future__ import annotations

import re
from uuid import UUID

from eventsourcing.persistence import Mapper

from commands import fast_events
from commands.ledger import Ledger
from commands.transcoder import LedgerMapper
from tests.helpers import memory_ledger
from tests.scenarios import deterministic, event_classes, every_event


def stored(ledger: Ledger) -> list[tuple[int, str, int, str, bytes]]:
    """Every stored event; sealed personal data (random key and nonce) masked."""
    return [
        (n.id, str(n.originator_id), n.originator_version, n.topic, re.sub(rb'"pd1\.[^"]*"', b'"sealed"', n.state))
        for n in ledger.recorder.select_notifications(start=None, limit=10_000)
    ]


def run_scenario(library: bool = False) -> Ledger:
    ledger = memory_ledger()  # installs the fast path
    deterministic(ledger)
    if library:
        fast_events.uninstall()
    try:
        every_event(ledger)
    finally:
        fast_events.install()
    return ledger


def test_the_scenario_records_every_event_class() -> None:
    ledger = run_scenario()
    topics = {topic for _, _, _, topic, _ in stored(ledger)}
    assert {f"{c.__module__}:{c.__qualname__}" for c in event_classes()} <= topics


def test_fast_events_store_the_bytes_the_library_path_stores() -> None:
    fast, library = stored(run_scenario()), stored(run_scenario(library=True))
    assert len(fast) == len(library) > 30
    assert fast == library


def test_the_ledger_mapper_stores_what_the_library_mapper_stores_for_every_event() -> None:
    ledger = run_scenario()
    assert isinstance(ledger.mapper, LedgerMapper)
    library = Mapper[UUID](transcoder=ledger.mapper.transcoder)
    for notification in ledger.recorder.select_notifications(start=None, limit=10_000):
        event = ledger.mapper.to_domain_event(notification)
        ours, theirs = ledger.mapper.to_stored_event(event), library.to_stored_event(event)
        assert (ours.originator_id, ours.originator_version, ours.topic, ours.state) == (
            theirs.originator_id,
            theirs.originator_version,
            theirs.topic,
            theirs.state,
        ), notification.topic
