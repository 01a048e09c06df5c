"""The pipeline decides on what its prefetch loaded: every command's declared reads name all it
loads, and a command that asks for more still decides right, after a counted miss."""

from __future__ import annotations

from dataclasses import replace

import pytest

from commands import registry
from commands.contracts import Observer
from commands.ledger import Ledger
from domain.stock import StockItem
from tests.helpers import item, memory_ledger, pipeline_of, place, receive, register
from tests.scenarios import deterministic, every_event


class Counting(Observer):
    def __init__(self) -> None:
        self.misses = 0

    def prefetch_missed(self, streams: int) -> None:
        self.misses += streams


def test_the_declared_reads_of_every_command_name_every_stream_it_loads() -> None:
    ledger = memory_ledger()
    deterministic(ledger)
    counting = Counting()
    pipeline_of(ledger).observer = counting
    every_event(ledger)
    assert counting.misses == 0


def test_a_command_that_reads_more_than_it_declared_is_loaded_and_decided_again(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(ledger, "main")
    receive(ledger, "A", "main", 5)
    spec = registry.SPECS[registry.m.PlaceOrder]
    forgetful = replace(spec, reads=lambda cmd, peek: [])  # names nothing: every stream is a miss
    monkeypatch.setitem(registry.SPECS, registry.m.PlaceOrder, forgetful)  # type: ignore[arg-type]
    counting = Counting()
    pipeline_of(ledger).observer = counting
    placed = place(ledger, [("A", 2)], order_id="o1")
    assert placed.extra["status"] == "committed"
    assert item(ledger, "A", "main").committed == 2
    assert counting.misses >= 2  # the order, the directory, the stock item: one by one
    assert isinstance(ledger.repository.get(StockItem.id_for("A", "main")), StockItem)
