"""Group commits too large for psycopg's pipeline mode are saved whole, with keys and chain."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence

import psycopg
import pytest
from eventsourcing.persistence import StoredEvent

from commands import messages as m
from commands.chain_verify import verify
from commands.contracts import CommandContext, CommandResult
from commands.eventstore import postgres
from commands.eventstore.batch import WriteBatch
from commands.eventstore.postgres import PostgresEventStore
from commands.ledger import Ledger
from tests.helpers import item, register, run_batch

pytestmark = pytest.mark.postgres


def test_forty_megabytes_of_events_in_one_transaction_are_saved(pg_ledger: Ledger) -> None:
    """In a pipeline, this insert waited for ever: the last flush left data unsent."""
    store = pg_ledger.store
    assert isinstance(store, PostgresEventStore)
    events = [StoredEvent(uuid.uuid4(), 1, "tests:Large", b"x" * 2_000) for _ in range(20_000)]
    saved: list[Sequence[int] | None] = []
    worker = threading.Thread(target=lambda: saved.append(store.write(WriteBatch(events))), daemon=True)
    worker.start()
    worker.join(120)  # a hang guard, not a speed check: the insert takes about a second
    assert not worker.is_alive(), "the insert hung"
    (ids,) = saved
    assert ids is not None and len(ids) == 20_000 and list(ids) == list(range(ids[0], ids[0] + 20_000))


def test_a_group_commit_outside_the_pipeline_keeps_idempotency_and_the_hash_chain(
    pg_ledger: Ledger, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgres, "PIPELINE_MAX_BYTES", 0)  # every insert goes the unpipelined way
    register(pg_ledger, "main")
    receipts = [
        (m.ReceiveStock(sku=f"S{n}", location_id="main", quantity=n), CommandContext(idempotency_key=f"k{n}"))
        for n in range(1, 21)
    ]
    first = run_batch(pg_ledger, receipts)
    assert all(isinstance(o, CommandResult) and o.position is not None for o in first)
    again = run_batch(pg_ledger, receipts[:3])
    assert [o.as_dict() for o in again if isinstance(o, CommandResult)] == [o.as_dict() for o in first[:3]]
    assert all(isinstance(o, CommandResult) and o.replayed for o in again)
    assert item(pg_ledger, "S20", "main").on_hand == 20
    with psycopg.connect(pg_url) as conn:
        assert verify(conn).ok


def test_the_ledger_connections_never_jit_compile_a_batch(pg_ledger: Ledger) -> None:
    """A batch insert's estimate passes jit_above_cost; compiling it cost more than running it."""
    store = pg_ledger.store
    assert isinstance(store, PostgresEventStore)
    with store.datastore.get_connection() as conn:
        row = conn.execute("SELECT current_setting('jit') AS jit").fetchone()
    assert row is not None and row["jit"] == "off"
