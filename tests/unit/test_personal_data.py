"""Personal data is sealed per customer; erasing the key makes it unreadable for good."""

from __future__ import annotations

import json

import pytest
from eventsourcing.domain import Snapshot

from commands.personal_data import Disclosure, MemoryCustomerKeys, PersonalData
from domain.orders import Order
from tests.helpers import memory_ledger, order, place, receive, register

ADDRESS = {"name": "Ada Lovelace", "line1": "12 St James's Square", "city": "London", "email": "ada@example.org"}


def test_sealed_data_holds_nothing_readable_and_opens_with_the_key() -> None:
    vault = PersonalData(MemoryCustomerKeys())
    token = vault.seal("C-1", ADDRESS)
    assert token is not None
    for value in ADDRESS.values():
        assert value not in token
    assert vault.reveal("C-1", token).data == ADDRESS
    assert vault.reveal("C-1", None).disclosure is Disclosure.NONE
    assert vault.seal("C-1", None) is None


def test_sealed_data_cannot_pass_as_another_customers() -> None:
    vault = PersonalData(MemoryCustomerKeys())
    token = vault.seal("C-1", ADDRESS)
    with pytest.raises(ValueError, match="does not open"):
        vault.reveal("C-2", token)


def test_erasure_leaves_the_data_unreadable_even_after_the_customer_returns() -> None:
    keys = MemoryCustomerKeys()
    vault = PersonalData(keys)
    old = vault.seal("C-1", ADDRESS)
    other = vault.seal("C-2", ADDRESS)
    erasure = vault.erase("C-1", "admin:dpo")
    assert erasure.keys_deleted == 1
    new = vault.seal("C-1", {"name": "Ada L."})
    assert [r.disclosure for r in vault.reveal_many([("C-1", old), ("C-1", new), ("C-2", other)])] == [
        Disclosure.ERASED,
        Disclosure.PRESENT,
        Disclosure.PRESENT,
    ]
    assert vault.erase("C-1", "admin:dpo").keys_deleted == 1
    assert vault.erase("C-1", "admin:dpo").keys_deleted == 0
    assert len(keys.erasures) == 3


def test_an_order_keeps_only_the_sealed_ship_to() -> None:
    ledger = memory_ledger()
    register(ledger, "main")
    receive(ledger, "A", "main", 5)
    place(ledger, [("A", 1)], "o1", ship_to=ADDRESS)
    placed = order(ledger, "o1")
    assert placed.personal_data is not None
    assert ledger.personal_data.reveal(placed.customer_id, placed.personal_data).data == ADDRESS
    stored = [e.state.decode() for e in ledger.recorder.select_events(placed.id)]
    assert not any(value in state for state in stored for value in ADDRESS.values())


def test_orders_placed_before_sealing_load_without_their_clear_address() -> None:
    ledger = memory_ledger()
    register(ledger, "main")
    receive(ledger, "A", "main", 5)
    place(ledger, [("A", 1)], "o1")
    first = ledger.recorder.select_events(Order.id_for("o1"))[0]
    state = json.loads(first.state)
    del state["class_version"], state["personal_data"]
    state["ship_to"] = ADDRESS
    version_1 = ledger.mapper.to_domain_event(
        first.__class__(first.originator_id, 1, first.topic, json.dumps(state).encode())
    )
    assert isinstance(version_1, Order.Placed)
    assert version_1.personal_data is None
    assert not hasattr(version_1, "ship_to")


def test_order_snapshots_taken_before_sealing_load_without_their_clear_address() -> None:
    ledger = memory_ledger()
    register(ledger, "main")
    receive(ledger, "A", "main", 5)
    place(ledger, [("A", 1)], "o1")
    snapshot = Snapshot.take(order(ledger, "o1"))
    state = {k: v for k, v in snapshot.state.items() if k not in ("class_version", "personal_data")}
    old = Snapshot(
        originator_id=snapshot.originator_id,
        originator_version=snapshot.originator_version,
        timestamp=snapshot.timestamp,
        topic=snapshot.topic,
        state={**state, "ship_to": ADDRESS},
    )
    restored = old.mutate(None)
    assert isinstance(restored, Order)
    assert restored.personal_data is None
    assert not hasattr(restored, "ship_to")
