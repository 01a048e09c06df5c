"""A group commit does not look for orders under ids it has just generated."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from decimal import Decimal
from uuid import UUID

import pytest

from commands import messages as m
from commands.contracts import CommandContext
from commands.group_commit import GroupCommitter
from commands.ledger import Ledger
from commands.pipeline import Pipeline
from domain.base import LedgerAggregate
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
