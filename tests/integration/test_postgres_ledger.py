"""The Ledger on a real PostgreSQL event store."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import PersistenceError

from api.database import ledger_env
from commands import messages as m
from commands.chain_verify import verify
from commands.contracts import CommandContext, CommandResult
from commands.ledger import Ledger
from commands.pipeline import Pipeline
from domain.errors import InsufficientStock, LedgerError
from domain.orders import Order
from domain.stock import StockItem
from tests.helpers import execute, item, order, pipeline_of, place, receive, register

pytestmark = pytest.mark.postgres


def race(threads: int, work: Callable[[int], CommandResult]) -> list[CommandResult | LedgerError]:
    """Run ``work`` from many threads released at the same instant."""
    barrier = threading.Barrier(threads)

    def one(n: int) -> CommandResult | LedgerError:
        barrier.wait()
        try:
            return work(n)
        except LedgerError as error:
            return error

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, range(threads)))


def event_count(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM ledger.ledger_events").fetchone()
    assert row is not None
    return int(row[0])


def test_an_order_round_trips_through_postgres(pg_ledger: Ledger, pg_url: str) -> None:
    register(pg_ledger, "main")
    receive(pg_ledger, "A", "main", 5)
    result = place(pg_ledger, [("A", 2, "3.10")], order_id="o1")
    fresh = Ledger(env=ledger_env(pg_url, pool_size=1))
    try:
        assert fresh.repository.get(Order.id_for("o1")) == order(pg_ledger, "o1")
        assert item(fresh, "A", "main").committed == 2
        assert fresh.recorder.max_notification_id() == result.position
    finally:
        fresh.close()


def test_twenty_threads_ordering_the_last_ten_units_commit_exactly_ten(pg_url: str) -> None:
    ledger = Ledger(env=ledger_env(pg_url, pool_size=8))
    pipeline_of(ledger, max_attempts=30)
    try:
        register(ledger, "main")
        receive(ledger, "LAST", "main", 10)
        outcomes = race(20, lambda n: place(ledger, [("LAST", 1)], order_id=f"race-{n}"))
        kinds = Counter(type(o).__name__ for o in outcomes)
        assert kinds == {"CommandResult": 10, "InsufficientStock": 10}, kinds
        stock = item(ledger, "LAST", "main")
        assert (stock.available, stock.committed) == (0, 10)
        with psycopg.connect(pg_url) as conn:
            assert verify(conn).ok  # the chain stays one line under concurrent writers
    finally:
        ledger.close()


def test_twenty_agents_raising_quantities_of_different_orders_for_the_last_units_never_oversell(pg_url: str) -> None:
    """Each of 20 orders holds one unit; 5 units are left; 20 agents each ask for one more at once."""
    ledger = Ledger(env=ledger_env(pg_url, pool_size=8))
    pipeline_of(ledger, max_attempts=30)
    try:
        register(ledger, "main")
        receive(ledger, "LAST", "main", 25)
        for n in range(20):
            place(ledger, [("LAST", 1)], order_id=f"o{n}")
        raise_one = lambda n: execute(  # noqa: E731
            ledger, m.ChangeLineQuantity(order_id=f"o{n}", sku="LAST", quantity=2, reason="one more")
        )
        outcomes = race(20, raise_one)
        kinds = Counter(type(o).__name__ for o in outcomes)
        assert kinds == {"CommandResult": 5, "InsufficientStock": 15}, kinds
        stock = item(ledger, "LAST", "main")
        assert (stock.available, stock.committed) == (0, 25)
        units = sum(order(ledger, f"o{n}").lines["LAST"].committed for n in range(20))
        assert units == 25
    finally:
        ledger.close()


def _fail_on(url: str, table: str, condition: str) -> None:
    """A trigger that raises a database error for rows matching ``condition``."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION ledger.fail_halfway() RETURNS trigger LANGUAGE plpgsql AS $$"
            f" BEGIN IF {condition} THEN RAISE EXCEPTION 'simulated failure'; END IF; RETURN NEW; END $$"
        )
        conn.execute(
            f"CREATE TRIGGER fail_halfway BEFORE INSERT ON ledger.{table}"
            " FOR EACH ROW EXECUTE FUNCTION ledger.fail_halfway()"
        )


def _heal(url: str, table: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP TRIGGER fail_halfway ON ledger.{table}")
        conn.execute("DROP FUNCTION ledger.fail_halfway()")


@pytest.mark.parametrize(
    ("table", "condition"),
    [
        # Both stock rows go in (the items were loaded first), then the order row fails.
        ("ledger_events", "NEW.topic LIKE '%Order.Placed'"),
        # Every event goes in, then the idempotency record fails.
        ("idempotency_keys", "true"),
    ],
)
def test_a_command_that_fails_halfway_leaves_nothing_and_its_retry_runs_once(
    pg_ledger: Ledger, pg_url: str, table: str, condition: str
) -> None:
    register(pg_ledger, "main")
    receive(pg_ledger, "A", "main", 5)
    receive(pg_ledger, "B", "main", 5)
    receive(pg_ledger, "B", "main", 5)
    before = event_count(pg_url)
    ctx = CommandContext(actor="shop", idempotency_key="order-1")
    _fail_on(pg_url, table, condition)
    with pytest.raises(PersistenceError):
        place(pg_ledger, [("A", 1), ("B", 1)], order_id="o1", ctx=ctx)
    assert event_count(pg_url) == before
    assert item(pg_ledger, "A", "main").committed == 0
    _heal(pg_url, table)
    first = place(pg_ledger, [("A", 1), ("B", 1)], order_id="o1", ctx=ctx)
    again = place(pg_ledger, [("A", 1), ("B", 1)], order_id="o1", ctx=ctx)
    assert (again.replayed, again.position) == (True, first.position)
    assert event_count(pg_url) == before + 3
    assert (item(pg_ledger, "A", "main").committed, item(pg_ledger, "B", "main").committed) == (1, 1)


def test_concurrent_repeats_of_one_idempotency_key_place_one_order(pg_url: str) -> None:
    ledger = Ledger(env=ledger_env(pg_url, pool_size=8))
    try:
        register(ledger, "main")
        receive(ledger, "A", "main", 50)
        ctx = CommandContext(actor="shop", idempotency_key="same")
        outcomes = race(8, lambda _: place(ledger, [("A", 1)], ctx=ctx))
        assert all(isinstance(o, CommandResult) for o in outcomes), outcomes
        assert len({o.id for o in outcomes if isinstance(o, CommandResult)}) == 1
        assert item(ledger, "A", "main").committed == 1
    finally:
        ledger.close()


def test_a_long_history_loads_from_a_snapshot_equal_to_a_full_replay(pg_ledger: Ledger, pg_url: str) -> None:
    register(pg_ledger, "main")
    for _ in range(Ledger.snapshotting_intervals[StockItem] + 5):
        receive(pg_ledger, "HOT", "main", 1)
    with psycopg.connect(pg_url) as conn:
        row = conn.execute("SELECT count(*) FROM ledger.ledger_snapshots").fetchone()
    assert row is not None and row[0] >= 1
    replayed = Ledger(env={**ledger_env(pg_url, pool_size=1), "IS_SNAPSHOTTING_ENABLED": "n"})
    try:
        loaded = item(pg_ledger, "HOT", "main")
        assert item(replayed, "HOT", "main").balances == loaded.balances
        assert loaded.available == Ledger.snapshotting_intervals[StockItem] + 5
    finally:
        replayed.close()


def test_the_writer_loads_a_long_history_from_its_snapshot_and_only_the_events_after_it(
    pg_ledger: Ledger, pg_url: str
) -> None:
    register(pg_ledger, "main")
    interval = Ledger.snapshotting_intervals[StockItem]
    for _ in range(interval + 5):
        receive(pg_ledger, "HOT", "main", 1)
    fresh = Ledger(env=ledger_env(pg_url, pool_size=1))
    try:
        loads: list[tuple[int, int]] = []
        load = fresh.store.load

        def spy(snapshotted: Any, after: Any) -> Any:
            snapshots, events = load(snapshotted, after)
            loads.append((len(snapshots), len(events)))
            return snapshots, events

        fresh.store.load = spy  # type: ignore[method-assign]
        stock_id = StockItem.id_for("HOT", "main")
        loaded = Pipeline(fresh, trusted=True).loader.checkout([stock_id])[stock_id]
        assert isinstance(loaded, StockItem) and loaded.version > interval
        assert loads == [(1, loaded.version - interval)]  # the snapshot at version 100, then the events after it
        assert loaded.balances == item(pg_ledger, "HOT", "main").balances
    finally:
        fresh.close()


def test_insufficient_stock_on_postgres_names_the_skus(pg_ledger: Ledger) -> None:
    register(pg_ledger, "main")
    with pytest.raises(InsufficientStock) as caught:
        place(pg_ledger, [("NONE", 1)])
    assert caught.value.skus == ["NONE"]


def test_many_conflicting_writers_see_only_rule_errors_never_a_database_error(pg_url: str) -> None:
    """Conflicts abort pipelined transactions; a statement psycopg prepared in one of them used to
    be lost on the server and fail the connection's next command with 'does not exist'."""
    ledger = Ledger(env=ledger_env(pg_url, pool_size=8))
    pipeline = pipeline_of(ledger, max_attempts=50)
    try:
        register(ledger, "main")
        for sku in "ABCDEF":
            receive(ledger, sku, "main", 1_000)

        def orders(worker: int) -> Counter[str]:
            seen: Counter[str] = Counter()
            for n in range(30):
                lines = [("ABCDEF"[(worker + n + k) % 6], 1) for k in range(3)]
                try:
                    place(ledger, lines, order_id=f"w{worker}-{n}")
                    seen["ok"] += 1
                except (LedgerError, PersistenceError) as error:
                    seen[type(error).__name__] += 1
            return seen

        with ThreadPoolExecutor(8) as pool:
            outcomes = sum(pool.map(orders, range(8)), Counter())
        assert outcomes == Counter({"ok": 240}), outcomes
        assert sum(1_000 - item(ledger, sku, "main").available for sku in "ABCDEF") == 240 * 3
        assert pipeline.conflicts > 0  # the writers really did collide
    finally:
        ledger.close()
