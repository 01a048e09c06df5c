"""The one writer's append (``commands.eventstore.appends``): it numbers its batches after the head it
saved, and ``ledger.expect_head`` refuses them once anyone else has written, whatever the order of
its writes, other writers' writes and failed transactions that used up sequence numbers."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import uuid4

import psycopg
import pytest
from eventsourcing.persistence import StoredEvent
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from api.database import ledger_env
from commands import messages as m
from commands import pipeline
from commands.chain_verify import verify
from commands.contracts import CommandContext
from commands.eventstore import postgres
from commands.eventstore.batch import EventTime, HeadCheck, HeadMoved, WriteBatch, as_uuid
from commands.eventstore.postgres import PostgresEventStore
from commands.group_commit import GroupCommitter
from commands.ledger import Ledger
from domain.locations import LocationDirectory, LocationKind
from tests.helpers import execute, item, pipeline_of, receive, register, through_a_writer

pytestmark = pytest.mark.postgres


class Counted:
    """Counts which way each of a store's writes went."""

    def __init__(self, store: object) -> None:
        assert isinstance(store, PostgresEventStore)
        self.appends = self.under_lock = 0
        append, under_lock = store._append, store._insert_under_lock

        def counted_append(*args: object) -> object:
            self.appends += 1
            return append(*args)  # type: ignore[arg-type]

        def counted_under_lock(*args: object) -> object:
            self.under_lock += 1
            return under_lock(*args)  # type: ignore[arg-type]

        store._append = counted_append  # type: ignore[method-assign,assignment]
        store._insert_under_lock = counted_under_lock  # type: ignore[method-assign,assignment]


def place(order_id: str, sku: str = "A") -> m.PlaceOrder:
    line = m.OrderLine(sku=sku, quantity=1, unit_price=Decimal(1))
    return m.PlaceOrder(order_id=order_id, channel="web", customer_id="c", currency="GBP", lines=(line,))


@pytest.fixture
def theirs(pg_url: str) -> Iterator[Ledger]:
    """Another process's ledger on the same database, writing as a service without group commit."""
    other = Ledger(env=ledger_env(pg_url, pool_size=2))
    yield other
    other.close()


def positions(url: str) -> list[int]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT notification_id FROM ledger.ledger_events ORDER BY 1")]


def burn_sequence_numbers(url: str, n: int) -> None:
    """A writer that drew positions from the sequence and then failed: the numbers are gone."""
    with psycopg.connect(url) as conn:
        for _ in range(n):
            conn.execute("SELECT nextval(pg_get_serial_sequence('ledger.ledger_events', 'notification_id'))")
        conn.rollback()


def test_the_one_writer_sends_each_batch_after_the_head_it_saved(pg_ledger: Ledger, pg_url: str) -> None:
    counted = Counted(pg_ledger.store)
    with through_a_writer(pg_ledger):
        register(pg_ledger, "main")
        receive(pg_ledger, "A", "main", 10)
        results = [execute(pg_ledger, place(f"o{n}")) for n in range(5)]
    assert counted.under_lock == 1  # the first batch learns the head under the lock
    assert counted.appends >= 6
    saved = positions(pg_url)
    assert saved == list(range(saved[0], saved[0] + len(saved)))
    assert [r.position for r in results] == sorted(r.position for r in results if r.position)
    with psycopg.connect(pg_url) as conn:
        assert verify(conn).ok


def test_a_batch_too_large_for_the_pipeline_is_appended_in_a_few_round_trips(
    pg_ledger: Ledger, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(postgres, "PIPELINE_MAX_BYTES", 0)  # every batch counts as large
    counted = Counted(pg_ledger.store)
    keyed = CommandContext(actor="integrator:t", idempotency_key="k1")
    with through_a_writer(pg_ledger) as writer:
        register(pg_ledger, "main")
        receive(pg_ledger, "A", "main", 500)
        answers = writer.enqueue([(place("keyed"), keyed)] + [(place(f"o{n}"), CommandContext()) for n in range(150)])
        assert not [a for a in answers.result() if isinstance(a, Exception)]
        again = writer.enqueue([(place("keyed"), keyed)]).result()
    assert counted.appends >= 2
    assert again[0].replayed  # type: ignore[union-attr]
    with psycopg.connect(pg_url) as conn:
        assert verify(conn).ok
        snapshots = conn.execute("SELECT count(*) FROM ledger.ledger_snapshots").fetchone()
    assert snapshots is not None and snapshots[0] >= 1  # the stock item's, sealed in the same transaction
    assert item(pg_ledger, "A", "main").available == 349


def test_a_writer_numbering_from_the_sequence_goes_on_after_the_one_writers_batches(
    pg_ledger: Ledger, theirs: Ledger, pg_url: str
) -> None:
    with through_a_writer(pg_ledger):
        register(pg_ledger, "main")
        receive(pg_ledger, "A", "main", 10)
        ours = execute(pg_ledger, place("o1"))
    other = execute(theirs, place("theirs"))  # its position comes from the sequence
    assert ours.position is not None and other.position is not None
    assert other.position > ours.position
    assert pipeline_of(theirs).conflicts == 0  # the sequence was past ours: no position taken twice
    with psycopg.connect(pg_url) as conn:
        assert verify(conn).ok


def test_a_batch_after_someone_elses_write_is_refused_under_the_lock_and_saves_nothing(
    pg_ledger: Ledger, theirs: Ledger, pg_url: str
) -> None:
    register(pg_ledger, "main")
    store = pg_ledger.store
    recorder = pg_ledger.recorder
    registered = recorder.select_events(LocationDirectory.ID)[0]
    head = recorder.max_notification_id() or 0
    store.write(WriteBatch([StoredEvent(uuid4(), 1, registered.topic, registered.state)], head=HeadCheck(head, False)))
    receive(theirs, "A", "main", 1)  # the store's head is now stale
    before = positions(pg_url)
    counted = Counted(store)
    check = HeadCheck(head + 1, strict=True)
    event = StoredEvent(uuid4(), 1, registered.topic, registered.state)
    times = [_time(event)]
    with pytest.raises(HeadMoved):
        store.write(WriteBatch([event], times=times, head=check))
    assert (counted.appends, check.seen) == (1, before[-1])
    assert positions(pg_url) == before
    with psycopg.connect(pg_url) as conn:
        assert verify(conn).ok


def test_a_database_without_expect_head_is_written_the_general_way(
    pg_ledger: Ledger, pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with psycopg.connect(pg_url) as conn:
        conn.execute("DROP FUNCTION ledger.expect_head(bigint)")
    counted = Counted(pg_ledger.store)
    with caplog.at_level(logging.WARNING), through_a_writer(pg_ledger):
        register(pg_ledger, "main")
        receive(pg_ledger, "A", "main", 3)
        for n in range(3):
            execute(pg_ledger, place(f"o{n}"))
    assert "ledger.expect_head" in caplog.text
    assert counted.under_lock == 5  # the first, the one that found the function missing, then every one
    assert item(pg_ledger, "A", "main").available == 0
    with psycopg.connect(pg_url) as conn:
        assert verify(conn).ok


Step = tuple[str, int]
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("ours"), st.integers(1, 4)),
        st.tuples(st.just("theirs"), st.integers(1, 2)),
        st.tuples(st.just("burn"), st.integers(1, 8)),
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
def test_positions_stay_unique_and_the_chain_whole_whatever_the_interleaving(
    pg_ledger: Ledger, theirs: Ledger, pg_url: str, steps: list[Step]
) -> None:
    run = uuid4().hex[:8]
    sku = f"S{run}"
    with through_a_writer(pg_ledger) as writer:
        if not any(True for _ in pg_ledger.recorder.select_events(LocationDirectory.ID, limit=1)):
            register(pg_ledger, "main")
        receive(pg_ledger, sku, "main", 100)
        placed = 0
        for n, (who, count) in enumerate(steps):
            if who == "ours":
                answers = writer.enqueue(
                    [(place(f"{run}-{n}-{i}", sku), CommandContext()) for i in range(count)]
                ).result()
                assert not [a for a in answers if isinstance(a, Exception)]
                placed += count
            elif who == "theirs":  # streams of their own, so only the head check stands in ours' way
                for i in range(count):
                    receive(theirs, f"{sku}-t{n}-{i}", "main", 1)
            else:
                burn_sequence_numbers(pg_url, count)
    stock = item(theirs, sku, "main")
    assert (stock.available, stock.committed) == (100 - placed, placed)
    saved = positions(pg_url)
    assert len(saved) == len(set(saved))
    with psycopg.connect(pg_url) as conn:
        assert verify(conn).ok


def _time(event: StoredEvent) -> EventTime:
    now = datetime.now(UTC)
    return EventTime(as_uuid(event.originator_id), event.originator_version, now, now)


OUT_OF_ORDER = (
    "SELECT originator_id, originator_version, out_of_order,"
    " coalesce(occurred_at < max(occurred_at) OVER w, false) OR coalesce(recorded_at < max(recorded_at) OVER w, false)"
    " FROM ledger.event_times"
    " WINDOW w AS (PARTITION BY originator_id ORDER BY originator_version"
    " ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)"
)
Receipt = tuple[str, int, int | None]  # who, which of three SKUs, hours before now of its business time
RECEIPTS = st.lists(
    st.tuples(
        st.sampled_from(["ours", "ours", "ours", "theirs", "restart"]),
        st.integers(0, 1),
        st.sampled_from([None, None, -48, -24, -12, -1]),
    ),
    min_size=1,
    max_size=16,
)
# Histories that go from the general path to the one-round-trip path and back: a restart, and
# another writer's event in between.
AFTER_A_RESTART: list[Receipt] = [("ours", 0, None), ("restart", 0, None), ("ours", 0, None), ("ours", 0, -48)]
AFTER_A_RESTART += [("ours", 0, -24)]
AFTER_THEIRS: list[Receipt] = [("ours", 0, -48), ("ours", 0, -48), ("theirs", 0, None), ("ours", 0, -24)]
AFTER_THEIRS += [("ours", 0, -12)]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(receipts=RECEIPTS)
@example(receipts=AFTER_A_RESTART)
@example(receipts=AFTER_THEIRS)
def test_the_time_index_marks_exactly_the_events_earlier_than_one_before_them(
    pg_url: str, theirs: Ledger, receipts: list[Receipt], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whether the batch went in one round trip or read the head first, across other writers'
    events and the writer's restarts."""
    monkeypatch.setattr(pipeline, "LOOK_SECONDS", 0.0)  # back to its cache at once after seeing theirs
    run = uuid4().hex[:8]
    now = datetime.now(UTC)
    appended = 0
    with ExitStack() as started:
        writer, counted = _start(started, pg_url)
        for who, sku, hours in receipts:
            if who == "restart":
                appended += counted.appends
                started.close()
                writer, counted = _start(started, pg_url)
                continue
            at = None if hours is None else now + timedelta(hours=hours)
            command = m.ReceiveStock(sku=f"{run}-{sku}", location_id="main", quantity=1, occurred_at=at)
            if who == "theirs":
                execute(theirs, command)
            else:
                [answer] = writer.enqueue([(command, CommandContext())]).result()
                assert not isinstance(answer, Exception)
        appended += counted.appends
    with psycopg.connect(pg_url) as conn:
        wrong = [row[:3] for row in conn.execute(OUT_OF_ORDER) if row[2] != row[3]]
    assert wrong == []
    ours_in_a_row = any(a[0] == b[0] == "ours" for a, b in itertools.pairwise(receipts))
    assert appended or not ours_in_a_row  # the one-round-trip path was taken


def _start(stack: ExitStack, url: str) -> tuple[GroupCommitter, Counted]:
    """Our ledger and its writer, anew: a restart."""
    ours = Ledger(env=ledger_env(url, pool_size=2))
    stack.callback(ours.close)
    counted = Counted(ours.store)
    writer = stack.enter_context(through_a_writer(ours))
    if not any(True for _ in ours.recorder.select_events(LocationDirectory.ID, limit=1)):
        writer.enqueue(
            [
                (
                    m.RegisterLocation(location_id="main", name="Main", kind=LocationKind.WAREHOUSE, priority=1),
                    CommandContext(),
                )
            ]
        ).result()
    return writer, counted
