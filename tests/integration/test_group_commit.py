"""Group commit against PostgreSQL: losing to another writer, and many callers at once."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from eventsourcing.persistence import OperationalError, StoredEvent

from api.database import ledger_env
from commands import messages as m
from commands.chain_verify import verify
from commands.contracts import CommandContext, CommandResult
from commands.eventstore import postgres
from commands.eventstore.batch import HeadCheck, HeadMoved, WriteBatch
from commands.ledger import Ledger
from commands.phases import Encoded
from commands.pipeline import Pipeline
from domain.errors import InsufficientStock, LedgerError
from domain.locations import LocationDirectory
from tests.helpers import execute, item, pipeline_of, receive, register, run_batch, through_a_writer, use_pipeline

pytestmark = pytest.mark.postgres


class Interleaved(Pipeline):
    """Lets another writer commit just before this pipeline's group transaction."""

    before_commit: Callable[[], None] | None = None

    def write(self, encoded: Encoded) -> None:
        if self.before_commit is not None:
            step, self.before_commit = self.before_commit, None
            step()
        super().write(encoded)


def order(order_id: str, quantity: int, key: str | None = None, sku: str = "A") -> tuple[m.Command, CommandContext]:
    command = m.PlaceOrder(
        order_id=order_id,
        channel="web",
        customer_id="c",
        currency="GBP",
        lines=(m.OrderLine(sku=sku, quantity=quantity, unit_price=Decimal(1)),),
    )
    return command, CommandContext(actor="integrator:t", idempotency_key=key)


@pytest.fixture
def two_writers(pg_url: str) -> Iterator[tuple[Ledger, Ledger]]:
    first, second = Ledger(env=ledger_env(pg_url, pool_size=4)), Ledger(env=ledger_env(pg_url, pool_size=4))
    use_pipeline(first, Interleaved(first))
    yield first, second
    first.close()
    second.close()


def test_a_batch_that_loses_to_another_writer_reruns_each_command_on_fresh_state(
    two_writers: tuple[Ledger, Ledger],
) -> None:
    ours, theirs = two_writers
    register(ours, "main")
    receive(ours, "A", "main", 3)
    item(ours, "A", "main")  # cached in our process, about to go stale
    interleaved = pipeline_of(ours)
    assert isinstance(interleaved, Interleaved)
    interleaved.before_commit = lambda: execute(theirs, *order("theirs", 2))
    outcomes = run_batch(ours, [order("o1", 2, key="k1"), order("o2", 1, key="k2")])
    assert interleaved.conflicts == 1
    assert isinstance(outcomes[0], InsufficientStock)  # only 1 left after their order
    assert isinstance(outcomes[1], CommandResult)
    stock = item(ours, "A", "main")
    assert (stock.available, stock.committed) == (0, 3)
    # The key of the failed command is free; the other's replays its answer.
    (again,) = run_batch(ours, [order("o2", 1, key="k2")])
    assert isinstance(again, CommandResult)
    assert (again.replayed, again.as_dict()) == (True, outcomes[1].as_dict())


def test_many_callers_through_the_writer_never_oversell_and_each_gets_its_own_answer(pg_ledger: Ledger) -> None:
    register(pg_ledger, "main")
    receive(pg_ledger, "A", "main", 25)
    barrier = threading.Barrier(40)

    def place(n: int) -> CommandResult | LedgerError:
        barrier.wait()
        try:
            return execute(pg_ledger, *order(f"o{n}", 1, key=f"k{n}"))
        except LedgerError as error:
            return error

    with through_a_writer(pg_ledger, max_batch=16) as writer, ThreadPoolExecutor(40) as pool:
        outcomes = list(pool.map(place, range(40)))
    placed = [o for o in outcomes if isinstance(o, CommandResult)]
    assert len(placed) == 25
    assert all(isinstance(o, InsufficientStock) for o in outcomes if o not in placed)
    assert sorted(o.id for o in placed) == sorted({o.id for o in placed})
    positions = [o.position for o in placed]
    assert len(set(positions)) == 25 and None not in positions
    assert item(pg_ledger, "A", "main").available == 0
    assert writer.batches < 40  # some callers shared a transaction


@pytest.mark.parametrize("page", [postgres.CHANGED_PAGE, 2], ids=["one page", "pages of two events"])
def test_a_writer_sees_what_another_process_wrote_since_its_last_batch(
    two_writers: tuple[Ledger, Ledger], page: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgres, "CHANGED_PAGE", page)
    ours, theirs = two_writers
    with through_a_writer(ours) as writer:
        register(ours, "main")
        receive(ours, "A", "main", 10)
        execute(ours, *order("o1", 1))  # the item is now cached in our process
        for sku in "CDE":  # more events than a page holds, before the one that matters
            receive(theirs, sku, "main", 1)
        execute(theirs, *order("theirs", 4))
        assert isinstance(execute(ours, *order("o2", 5)), CommandResult)
        with pytest.raises(InsufficientStock):
            execute(ours, *order("o3", 1))
    # Our batch saw at the insert that the ledger had moved on, looked, and decided again:
    # it found their order without losing a commit and retrying.
    assert (writer.pipeline.conflicts, writer.pipeline.resyncs) == (0, 1)
    assert item(ours, "A", "main").available == 0


def test_the_only_writer_looks_for_other_writers_events_once(pg_ledger: Ledger) -> None:
    looks: list[int | None] = []
    changed_since = pg_ledger.store.changed_since

    def spy(position: int | None) -> tuple[int, dict[Any, int]]:
        looks.append(position)
        return changed_since(position)

    pg_ledger.store.changed_since = spy  # type: ignore[method-assign]
    with through_a_writer(pg_ledger) as writer:
        register(pg_ledger, "main")
        receive(pg_ledger, "A", "main", 10)
        for n in range(5):
            execute(pg_ledger, *order(f"o{n}", 1))
    assert looks == [None]  # the first batch learns the head; each insert then checks it
    assert (writer.pipeline.resyncs, writer.pipeline.conflicts) == (0, 0)
    assert item(pg_ledger, "A", "main").available == 5


def test_an_insert_that_finds_the_head_moved_saves_nothing(pg_ledger: Ledger, pg_url: str) -> None:
    register(pg_ledger, "main")
    recorder = pg_ledger.recorder
    head = recorder.max_notification_id() or 0
    registered = recorder.select_events(LocationDirectory.ID)[0]
    event = StoredEvent(uuid4(), 1, registered.topic, registered.state)
    check = HeadCheck(expected=head - 1, strict=True)
    with pytest.raises(HeadMoved):
        pg_ledger.store.write(WriteBatch([event], head=check))
    assert check.seen == head
    assert recorder.max_notification_id() == head  # rolled back, chain and all
    with psycopg.connect(pg_url) as conn:
        assert verify(conn).ok


def test_a_batch_decided_ahead_on_a_save_that_fails_is_dropped_and_nothing_oversells(
    two_writers: tuple[Ledger, Ledger], pg_url: str
) -> None:
    ours, theirs = two_writers
    with through_a_writer(ours) as writer:
        register(ours, "main")
        receive(ours, "A", "main", 3)
        execute(ours, *order("o0", 1))  # the item is cached; 2 left
    pipeline = writer.pipeline  # the writer's part, played here step by step
    first = pipeline.decide_ahead([order("o1", 1)])
    second = pipeline.decide_ahead([order("o2", 1)])  # on top of the first, still unsaved
    assert first is not None and second is not None
    execute(theirs, *order("theirs", 2))  # takes the last two while ours are undecided in the store
    with pytest.raises(HeadMoved) as moved:
        pipeline.write_ahead(first)
    pipeline.abandon_ahead(moved.value)
    assert (pipeline.resyncs, pipeline.loader.synced) == (1, None)  # the cache is gone with what it decided
    outcomes = pipeline.run([order("o1", 1), order("o2", 1)])
    assert all(isinstance(o, InsufficientStock) for o in outcomes)
    stock = item(ours, "A", "main")
    assert (stock.available, stock.committed) == (0, 3)
    with psycopg.connect(pg_url) as conn:
        assert verify(conn).ok


@pytest.mark.parametrize("keyed", [False, True])
def test_a_commit_whose_answer_was_lost_is_found_saved_and_applied_once(
    pg_ledger: Ledger, pg_url: str, monkeypatch: pytest.MonkeyPatch, keyed: bool
) -> None:
    """The connection drops after the server committed and before the writer heard: the writer
    finds the batch saved (its first event's stream, version and bytes) and answers from it, with
    or without an Idempotency-Key, instead of saving the command a second time. (Without that
    lookup a keyed command is still answered from its idempotency record; an unkeyed one, decided
    again on the saved state, was received twice.)"""
    register(pg_ledger, "main")
    store = pg_ledger.store
    assert isinstance(store, postgres.PostgresEventStore)
    real = store._write_once
    lost: list[list[int]] = []

    def committed_then_lost(batch: WriteBatch) -> list[int]:
        positions = real(batch)
        if not lost:
            lost.append(positions)
            # As the library's connection raises it when psycopg loses the server.
            raise OperationalError("server closed the connection unexpectedly")
        return positions

    monkeypatch.setattr(store, "_write_once", committed_then_lost)
    told: list[bool] = []
    monkeypatch.setattr(store, "on_lost_connection", told.append)
    ctx = CommandContext(actor="integrator:t", idempotency_key="r-1" if keyed else None)
    with through_a_writer(pg_ledger):
        result = execute(pg_ledger, m.ReceiveStock(sku="A", location_id="main", quantity=3), ctx)
        assert lost and result.position == lost[0][-1]  # answered from the saved batch: not lost
        assert told == [True]  # counted for operators as a lost connection whose batch was saved
        received = item(pg_ledger, "A", "main")
    assert received.available == 3 and received.version == 2  # created, received once: not doubled
    with psycopg.connect(pg_url) as conn:
        assert verify(conn).ok
