"""The projection runner: crashes inside and between batches, rebuilds, locks and wake-ups."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import Cursor

from commands import messages as m
from commands.ledger import Ledger
from domain.payments import PaymentKind
from projections.admin import rebuild, statuses
from projections.base import Projection, Tables
from projections.events import Recorded, make_mapper
from projections.registry import all_projections
from projections.runner import Busy, ProjectionRunner, wait_for
from tests.helpers import allow_backorder, execute, place, receive, register
from tests.projection_helpers import table

pytestmark = pytest.mark.postgres
MAPPER = make_mapper()
PROJECTIONS = all_projections(MAPPER)
KEYS = {
    "stock": "sku, location_id",
    "stock_totals": "sku",
    "locations": "location_id",
    "orders": "order_id",
    "order_lines": "order_id, sku",
    "orders_state": "stream_id",
    "order_desk": "order_id",
    "hold_rules": "rule_id",
    "fulfillment_daily": "day, channel, location_id",
    "fulfillment_gmv": "day, channel, location_id, currency",
    "kpi_orders": "stream_id",
    "audit_events": "position",
    "audit_streams": "stream_id",
    "finance_daily": "day, currency, channel",
    "finance_payments": "position",
    "finance_orders": "stream_id",
}


def a_history(ledger: Ledger, orders: int = 12) -> None:
    register(ledger, "main")
    register(ledger, "store", priority=2)
    for sku in ("A", "B", "C"):
        receive(ledger, sku, "main", 10 * orders)
    allow_backorder(ledger, "C", "store")
    for n in range(orders):
        place(ledger, [("A", 1 + n % 3, "2.50"), ("C", 2, "1.00")], order_id=f"o{n}")
        if n % 2 == 0:
            execute(ledger, m.ShipOrder(order_id=f"o{n}", shipment_id=f"s{n}", location_id="main"))
        if n % 4 == 0:
            execute(ledger, m.DeliverShipment(order_id=f"o{n}", shipment_id=f"s{n}"))
            execute(
                ledger,
                m.RecordPayment(order_id=f"o{n}", kind=PaymentKind.CAPTURE, amount=Decimal("2.50") * (1 + n % 3) + 2),
            )
        if n % 5 == 1 and n % 2:
            execute(ledger, m.CancelOrder(order_id=f"o{n}", reason="r"))


def dump(url: str, projection: Projection, suffix: str = "") -> dict[str, list[dict[str, Any]]]:
    return {name: table(url, name, KEYS[name], suffix) for name in projection.tables}


class Crash(Exception):
    pass


class CrashingProjection:
    """Wraps a projection and fails once, after ``at`` batches, inside or after the batch."""

    def __init__(self, inner: Projection, at: int, inside: bool) -> None:
        self.inner, self.at, self.inside, self.batches = inner, at, inside, 0
        self.name, self.tables = inner.name, inner.tables

    def create(self, cur: Cursor[Any], t: Tables) -> None:
        self.inner.create(cur, t)

    def apply(self, cur: Cursor[Any], batch: list[Recorded], t: Tables) -> None:
        self.inner.apply(cur, batch, t)  # the batch's writes are made, then the worker dies
        self.batches += 1
        if self.inside and self.batches == self.at:
            raise Crash


@pytest.fixture
def history(pg_ledger: Ledger, pg_url: str) -> str:
    a_history(pg_ledger)
    return pg_url


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(name=st.sampled_from(sorted(PROJECTIONS)), at=st.integers(1, 12), inside=st.booleans())
def test_a_worker_killed_anywhere_and_restarted_ends_with_the_same_tables(
    history: str, name: str, at: int, inside: bool
) -> None:
    url = history
    projection = PROJECTIONS[name]
    suffix = f"__crash{at}{int(inside)}"
    reference = ProjectionRunner(projection, url, MAPPER, batch_size=5, suffix="__clean")
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cur:
        projection.create(cur, reference.tables)
        projection.create(cur, Tables(projection.tables, suffix))
    reference.run_until_caught_up()

    crashing = CrashingProjection(projection, at, inside)

    def between(_: int, __: int) -> None:
        if not inside and crashing.batches == at:
            raise Crash  # after the batch committed, before the next one

    with pytest.raises(Crash):
        ProjectionRunner(crashing, url, MAPPER, batch_size=5, suffix=suffix, on_batch=between).run_until_caught_up()
    ProjectionRunner(projection, url, MAPPER, batch_size=5, suffix=suffix).run_until_caught_up()
    assert dump(url, projection, suffix) == dump(url, projection, "__clean")


@pytest.mark.parametrize("name", sorted(PROJECTIONS))
def test_a_rebuild_ends_with_identical_tables_and_position(history: str, name: str) -> None:
    runner = ProjectionRunner(PROJECTIONS[name], history, MAPPER, batch_size=25)
    runner.run_until_caught_up()
    before = dump(history, runner.projection)
    with psycopg.connect(history) as conn:
        position = statuses(conn, [name])[0].position
    assert rebuild(runner) == position
    assert dump(history, runner.projection) == before
    rebuild(runner)  # twice: the swapped-in indexes took back their names
    assert dump(history, runner.projection) == before
    with psycopg.connect(history) as conn:
        assert statuses(conn, [name])[0].position == position


def test_two_workers_never_run_one_projection_at_once(history: str) -> None:
    runner = ProjectionRunner(PROJECTIONS["stock"], history, MAPPER)
    with runner._locked(), pytest.raises(Busy):
        runner.run_until_caught_up()


def test_a_following_worker_wakes_on_new_events(pg_ledger: Ledger, pg_url: str) -> None:
    runner = ProjectionRunner(PROJECTIONS["stock"], pg_url, MAPPER, poll_seconds=30)
    stop = threading.Event()
    worker = threading.Thread(target=runner.run_forever, args=(stop,))
    worker.start()
    try:
        register(pg_ledger, "main")
        written = receive(pg_ledger, "A", "main", 4).position
        assert written is not None

        def caught_up() -> bool:
            with psycopg.connect(pg_url) as conn:
                return statuses(conn, ["stock"])[0].position >= written

        # Polling every 30 s could not make it in time: only the notification can.
        assert wait_for(caught_up, timeout=10)
        assert table(pg_url, "stock", "sku")[0]["available"] == 4
    finally:
        stop.set()
        worker.join(40)
