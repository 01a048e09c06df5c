"""A group commit does not look for orders under ids it has just generated."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from decimal import Decimal
from uuid import UUID

import pytest
from eventsourcing.persistence import StoredEvent

from commands import messages as m
from commands.contracts import CommandContext, CommandResult
from commands.group_commit import GroupCommitter
from commands.ledger import Ledger
from commands.pipeline import Pipeline
from domain.base import LedgerAggregate
from domain.hold_rules import HoldRules
from domain.order_records import HoldKind
from domain.orders import Order
from tests.helpers import receive, register


@pytest.fixture
def writer(ledger: Ledger) -> Iterator[GroupCommitter]:
    register(ledger, "main")
    receive(ledger, "A", "main", 10)
    committer = GroupCommitter(Pipeline(ledger, trusted=True))
    committer.start()
    yield committer
    committer.stop()


@pytest.fixture
def looked_for(writer: GroupCommitter) -> list[UUID]:
    asked: list[UUID] = []
    loader = writer.pipeline.loader
    checkout = loader.checkout

    def spy(ids: Collection[UUID], trusted: bool = False) -> dict[UUID, LedgerAggregate | None]:
        asked.extend(ids)
        return checkout(ids, trusted)

    loader.checkout = spy  # type: ignore[method-assign]
    return asked


def place(order_id: str | None) -> tuple[m.Command, CommandContext]:
    line = m.OrderLine(sku="A", quantity=1, unit_price=Decimal(1))
    return m.PlaceOrder(
        order_id=order_id, channel="web", customer_id="c", currency="GBP", lines=(line,)
    ), CommandContext()


def test_an_order_under_a_generated_id_is_placed_without_looking_for_it(
    ledger: Ledger, writer: GroupCommitter, looked_for: list[UUID]
) -> None:
    (placed,) = writer.execute_many([place(None)])
    assert not isinstance(placed, Exception)
    assert Order.id_for(placed.id) not in looked_for
    assert ledger.repository.get(Order.id_for(placed.id)).version == 1


def test_an_order_under_the_callers_id_is_looked_for_and_not_placed_twice(
    writer: GroupCommitter, looked_for: list[UUID]
) -> None:
    first, again = writer.execute_many([place("o1"), place("o1")])
    assert Order.id_for("o1") in looked_for
    assert not isinstance(first, Exception)
    assert isinstance(again, Exception) and "already" in str(again)


def test_a_stream_found_empty_is_not_looked_for_again_until_someone_writes_it(ledger: Ledger) -> None:
    """The hold rules are read by every order placed; before the first rule the stream is empty,
    and a trusted writer must not query for it on every batch, yet must see a rule once set."""
    register(ledger, "main")
    receive(ledger, "A", "main", 10)
    pipeline = Pipeline(ledger, trusted=True)
    loads: list[UUID] = []
    store = pipeline.loader.store
    events_after = store.events_after

    def spy(after: Mapping[UUID, int]) -> list[StoredEvent]:
        loads.extend(after)
        return events_after(after)

    store.events_after = spy  # type: ignore[method-assign]
    pipeline.run([place("o1")])
    assert HoldRules.ID in loads
    loads.clear()
    pipeline.run([place("o2")])
    assert HoldRules.ID not in loads  # known empty, as of the synced position
    rule = m.SetHoldRule(rule_id="all", kind=HoldKind.MANUAL, reason="hold all", channel="web")
    other = Pipeline(ledger)  # another writer sets the first rule
    other.run([(rule, CommandContext())])
    (held,) = pipeline.run([place("o3")])
    assert isinstance(held, CommandResult) and held.extra.get("on_hold") is True
    (mine,) = pipeline.run([(rule, CommandContext())])  # this writer changes the rule: it loads it
    assert isinstance(mine, CommandResult), mine
