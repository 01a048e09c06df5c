"""The ledger's aggregates build their events as the library would, only faster."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.base import LedgerAggregate
from domain.meta import Meta
from domain.stock import StockItem

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
META = Meta.at(NOW, NOW - timedelta(hours=1), actor="clerk", correlation_id="req-1")


def test_a_triggered_event_equals_the_one_the_library_builds_field_for_field_in_order() -> None:
    item = StockItem.open("SKU-1", "main", META)
    item.receive(5, "PO-1", META)
    event = item.pending_events[-1]
    fields = vars(event)
    assert event == StockItem.Received(**fields)  # the dataclass's own __init__
    assert list(fields) == list(vars(StockItem.Received(**fields)))  # stored in the declared order
    assert (event.originator_version, item.version) == (2, 2)
    assert event.timestamp == item.modified_on == NOW  # the command's recorded time
    assert item.available == 5


def test_a_missing_or_unknown_event_field_is_refused_and_changes_nothing() -> None:
    item = StockItem.open("SKU-1", "main", META)
    with pytest.raises(TypeError, match="quantity"):
        item.trigger_event(StockItem.Received, from_bucket="supplier", to_bucket="available", **META.fields())
    with pytest.raises(TypeError, match="colour"):
        item.trigger_event(
            StockItem.Received,
            from_bucket="supplier",
            to_bucket="available",
            quantity=1,
            reference=None,
            colour="red",
            **META.fields(),
        )
    assert (item.version, len(item.pending_events), item.available) == (1, 1, 0)


class Counter(LedgerAggregate):
    def __init__(self) -> None:
        self.seen: list[str] = []

    class Counted(LedgerAggregate.Event):
        def mutate(self, aggregate: Any) -> Any:
            aggregate.seen.append("own mutate")
            return super().mutate(aggregate)


def test_an_event_with_its_own_mutate_is_applied_through_it() -> None:
    counter = Counter._create(Counter.Created, **META.fields())
    counter.trigger_event(Counter.Counted, **META.fields())
    assert (counter.seen, counter.version) == (["own mutate"], 2)
