"""The Ledger's command loop: metadata, idempotency, conflicts and expected versions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from eventsourcing.persistence import IntegrityError

from commands import messages as m
from commands.contracts import Answer, CommandContext
from commands.ledger import Ledger
from commands.pipeline import Pipeline
from domain.errors import IdempotencyKeyReused, InsufficientStock, OccurredInFuture, StaleVersion, VersionConflict
from domain.stock import StockItem
from tests.helpers import execute, item, memory_ledger, pipeline_of, place, receive, register


@pytest.fixture
def stocked(ledger: Ledger) -> Ledger:
    register(ledger, "main")
    receive(ledger, "A", "main", 10)
    return ledger


def test_every_event_carries_business_time_actor_correlation_and_causation(stocked: Ledger) -> None:
    when = datetime.now(UTC) - timedelta(days=3)
    ctx = CommandContext(actor="shop (integrator)", correlation_id="req-42", causation_id="cart-7")
    place(stocked, [("A", 1)], order_id="o1", ctx=ctx, occurred_at=when)
    notifications = stocked.recorder.select_notifications(start=None, limit=100)
    events = [stocked.mapper.to_domain_event(n) for n in notifications[-2:]]
    placed, committed = events
    for event in events:
        assert (event.occurred_at, event.actor, event.correlation_id) == (when, "shop (integrator)", "req-42")  # type: ignore[attr-defined]
    assert placed.causation_id == "cart-7"  # type: ignore[attr-defined]
    assert committed.causation_id == f"{placed.originator_id}/1"  # type: ignore[attr-defined]
    assert isinstance(committed, StockItem.Committed)


def test_business_time_in_the_future_is_refused_before_anything_is_written(stocked: Ledger) -> None:
    before = stocked.recorder.max_notification_id()
    receive_at = datetime.now(UTC) + timedelta(minutes=5)
    with pytest.raises(OccurredInFuture):
        execute(stocked, m.ReceiveStock(sku="A", location_id="main", quantity=1, occurred_at=receive_at))
    assert stocked.recorder.max_notification_id() == before


def test_a_repeated_idempotency_key_returns_the_first_result_and_writes_nothing(stocked: Ledger) -> None:
    ctx = CommandContext(actor="shop", idempotency_key="key-1")
    first = place(stocked, [("A", 2)], ctx=ctx)
    after_first = stocked.recorder.max_notification_id()
    again = place(stocked, [("A", 2)], ctx=ctx)
    assert (again.id, again.version, again.position, again.replayed) == (first.id, first.version, first.position, True)
    assert stocked.recorder.max_notification_id() == after_first
    assert item(stocked, "A", "main").committed == 2


def test_an_idempotency_key_reused_for_another_command_is_refused(stocked: Ledger) -> None:
    ctx = CommandContext(actor="shop", idempotency_key="key-1")
    place(stocked, [("A", 2)], ctx=ctx)
    with pytest.raises(IdempotencyKeyReused):
        place(stocked, [("A", 3)], ctx=ctx)


def test_idempotency_keys_belong_to_their_sender(stocked: Ledger) -> None:
    place(stocked, [("A", 2)], ctx=CommandContext(actor="shop", idempotency_key="k"))
    other = place(stocked, [("A", 3)], ctx=CommandContext(actor="marketplace", idempotency_key="k"))
    assert not other.replayed


def test_a_failed_command_is_not_remembered_under_its_key(stocked: Ledger) -> None:
    ctx = CommandContext(actor="shop", idempotency_key="k")
    with pytest.raises(InsufficientStock):
        place(stocked, [("A", 11)], ctx=ctx)
    receive(stocked, "A", "main", 5)
    assert not place(stocked, [("A", 11)], ctx=ctx).replayed


def test_a_stale_expected_version_is_refused(stocked: Ledger) -> None:
    place(stocked, [("A", 2)], order_id="o1")
    with pytest.raises(StaleVersion):
        execute(stocked, m.CancelOrder(order_id="o1", reason="x"), CommandContext(expected_version=2))
    assert execute(stocked, m.CancelOrder(order_id="o1", reason="x"), CommandContext(expected_version=1)).version == 2


def test_a_decision_on_stale_state_conflicts_and_the_rerun_sees_fresh_state(stocked: Ledger) -> None:
    slow = Pipeline(stocked)  # another writer, deciding on what it loaded before "fast" was saved
    items = [
        (
            m.PlaceOrder(
                channel="web",
                customer_id="c",
                currency="GBP",
                order_id="slow",
                lines=(m.OrderLine(sku="A", quantity=6, unit_price=Decimal(1)),),
            ),
            CommandContext(),
        )
    ]
    answers: list[Answer | None] = [None]
    batch = slow.admit(items, [0], answers)
    stale = slow.encode(slow.decide(batch, slow.prefetch(batch), answers))
    place(stocked, [("A", 6)], order_id="fast")
    with pytest.raises(IntegrityError):
        slow.write(stale)
    with pytest.raises(InsufficientStock):
        place(stocked, [("A", 6)], order_id="slow")
    assert item(stocked, "A", "main").committed == 6


def test_conflicts_beyond_the_attempt_limit_are_reported_as_version_conflicts() -> None:
    ledger = memory_ledger(max_attempts=2, backoff_seconds=0)
    register(ledger, "main")
    original_write = ledger.store.write

    def always_conflicting(batch: object) -> list[int]:
        raise IntegrityError("simulated concurrent writer")

    ledger.store.write = always_conflicting  # type: ignore[method-assign,assignment]
    with pytest.raises(VersionConflict):
        receive(ledger, "A", "main", 1)
    assert pipeline_of(ledger).conflicts == 2
    ledger.store.write = original_write  # type: ignore[method-assign]


def test_a_command_that_runs_again_after_a_conflict_keeps_its_generated_id_and_metadata() -> None:
    ids = iter(f"gen-{n}" for n in range(10))
    ledger = memory_ledger(new_id=lambda: next(ids), backoff_seconds=0)
    register(ledger, "main")
    receive(ledger, "A", "main", 5)
    original_write = ledger.store.write
    failed: list[object] = []

    def conflict_once(batch: object) -> list[int]:
        if not failed:
            failed.append(batch)
            raise IntegrityError("simulated concurrent writer")
        return original_write(batch)  # type: ignore[arg-type]

    ledger.store.write = conflict_once  # type: ignore[method-assign]
    placed = place(ledger, [("A", 1)])
    ledger.store.write = original_write  # type: ignore[method-assign]
    assert placed.id == "gen-0"  # generated once, before the first try
    assert pipeline_of(ledger).conflicts == 1
