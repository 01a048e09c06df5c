"""As-of answers equal a replay from the first event up to that time, with and without snapshots."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.database import ledger_env
from commands import messages as m
from commands.contracts import CommandContext
from commands.ledger import Ledger
from domain.errors import LedgerError
from domain.orders import Order
from domain.payments import PaymentKind
from domain.stock import StockItem
from tests.helpers import MEMORY_ENV, execute, register

START = datetime(2025, 6, 1, tzinfo=UTC)


class Snapshotting(Ledger):
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {StockItem: 2, Order: 2}


step = st.tuples(st.sampled_from(["receive", "order", "pay", "ship", "cancel"]), st.integers(1, 4), st.integers(0, 96))


def replay(ledger: Ledger, stream: Any, moment: datetime, business: bool) -> Any:
    """Fold the stream's stored events, in order, up to the last one at or before ``moment``."""
    events = list(ledger.events.get(stream))
    keep = [i for i, e in enumerate(events) if (e.occurred_at if business else e.timestamp) <= moment]
    state = None
    for event in events[: keep[-1] + 1] if keep else []:
        state = event.mutate(state)
    return state


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    steps=st.lists(step, min_size=1, max_size=25),
    probes=st.lists(st.integers(-5, 120), min_size=1, max_size=6),
    snapshots=st.booleans(),
)
def test_as_of_equals_a_replay_up_to_that_time(
    steps: list[tuple[str, int, int]], probes: list[int], snapshots: bool
) -> None:
    ledger = (Snapshotting if snapshots else Ledger)(env=MEMORY_ENV)
    register(ledger, "main")
    check(ledger, steps, probes, "A", "")


class SnapshottingOnPostgres(Ledger):
    name = "Ledger"  # the same tables
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {StockItem: 3, Order: 2}


@pytest.mark.postgres
def test_as_of_on_postgres_equals_a_replay_up_to_that_time(pg_url: str) -> None:
    """The same, through PostgreSQL's one-query path (snapshot and events by the time index)."""
    ledger = SnapshottingOnPostgres(env=ledger_env(pg_url, pool_size=2))
    register(ledger, "main")
    examples = itertools.count()

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(steps=st.lists(step, min_size=1, max_size=20), probes=st.lists(st.integers(-5, 120), min_size=1, max_size=4))
    def run(steps: list[tuple[str, int, int]], probes: list[int]) -> None:
        n = next(examples)
        check(ledger, steps, probes, f"A{n}", f"x{n}-")

    try:
        run()
        assert next(examples) >= 10  # Hypothesis really ran the examples
    finally:
        ledger.close()


def check(ledger: Ledger, steps: list[tuple[str, int, int]], probes: list[int], sku: str, prefix: str) -> None:
    orders: list[str] = []
    for n, (kind, quantity, hours) in enumerate(steps):
        when = START + timedelta(hours=hours)  # business times out of lifecycle order on purpose
        try:
            if kind == "receive":
                execute(ledger, m.ReceiveStock(sku=sku, location_id="main", quantity=quantity, occurred_at=when))
            elif kind == "order":
                orders.append(
                    execute(
                        ledger,
                        m.PlaceOrder(
                            order_id=f"{prefix}o{n}",
                            channel="web",
                            customer_id="c",
                            currency="GBP",
                            occurred_at=when,
                            lines=(m.OrderLine(sku=sku, quantity=quantity, unit_price=Decimal(1)),),
                        ),
                    ).id
                )
            elif orders and kind == "pay":
                execute(
                    ledger,
                    m.RecordPayment(
                        order_id=orders[-1], kind=PaymentKind.CAPTURE, amount=Decimal(quantity), occurred_at=when
                    ),
                )
            elif orders and kind == "ship":
                execute(ledger, m.ShipOrder(order_id=orders[-1], occurred_at=when), CommandContext())
            elif orders and kind == "cancel":
                execute(ledger, m.CancelOrder(order_id=orders[0], reason="r", occurred_at=when))
        except LedgerError:
            pass
    streams = [StockItem.id_for(sku, "main"), *(Order.id_for(o) for o in orders)]
    recorded = [e.timestamp for s in streams for e in ledger.events.get(s)] or [START]
    for hours in probes:
        business_moment = START + timedelta(hours=hours)
        recorded_moment = min(recorded) + (max(recorded) - min(recorded)) * max(0, min(hours, 100)) / 100
        for stream in streams:
            assert ledger.as_of(stream, business_moment, "business") == replay(ledger, stream, business_moment, True)
            assert ledger.as_of(stream, recorded_moment, "recorded") == replay(ledger, stream, recorded_moment, False)
