"""The writer decides its next batch while the last one is written, and never answers from a
decision made on a save that failed."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, cast

from eventsourcing.persistence import IntegrityError

from commands import messages as m
from commands.contracts import CommandContext, CommandResult, Observer
from commands.group_commit import GroupCommitter
from commands.phases import Ahead
from commands.pipeline import Pipeline
from domain.errors import LedgerError

Items = Sequence[tuple[m.Command, CommandContext]]
WAIT = 10  # seconds; only a broken writer waits this long


def command(sku: str) -> tuple[m.Command, CommandContext]:
    return m.ReceiveStock(sku=sku, location_id="main", quantity=1), CommandContext()


class FakePipeline:
    """Answers each command with its SKU as the id; says where each answer came from."""

    observer = Observer()  # the writer reports to it; this double ignores it
    trusted = True

    def __init__(self, failing_write: str | None = None) -> None:
        self.failing_write = failing_write
        self.calls: list[tuple[str, str]] = []
        self.second_queued = threading.Event()
        self.second_decided = threading.Event()

    @staticmethod
    def _sku(items: Items) -> str:
        return cast(m.ReceiveStock, items[0][0]).sku

    def _answers(self, items: Items, source: str) -> list[CommandResult | LedgerError]:
        return [CommandResult(cast(m.ReceiveStock, c).sku, 1, None, {"source": source}) for c, _ in items]

    def decide_ahead(self, items: Items) -> Ahead:
        sku = self._sku(items)
        if sku == "first":
            assert self.second_queued.wait(WAIT)  # so the writer finds the second batch queued
        self.calls.append(("decide_ahead", sku))
        if sku == "second":
            self.second_decided.set()
        return Ahead(cast(Any, self._answers(items, "ahead")), None)

    def write_ahead(self, ahead: Ahead) -> None:
        sku = cast(CommandResult, ahead.answers[0]).id
        if sku == "first":
            assert self.second_decided.wait(WAIT)  # still being written while the next is decided
        self.calls.append(("write_ahead", sku))
        if sku == self.failing_write:
            raise IntegrityError("another writer got there first")

    def settle_ahead(self, ahead: Ahead) -> list[CommandResult | LedgerError]:
        self.calls.append(("settle_ahead", cast(CommandResult, ahead.answers[0]).id))
        return cast(list[CommandResult | LedgerError], ahead.answers)

    def abandon_ahead(self, error: BaseException) -> None:
        self.calls.append(("abandon_ahead", type(error).__name__))

    def run(self, items: Items) -> list[CommandResult | LedgerError]:
        self.calls.append(("run_batch", self._sku(items)))
        return self._answers(items, "run_batch")


def run_two_batches(ledger: FakePipeline) -> tuple[list[Any], list[Any]]:
    writer = GroupCommitter(cast(Pipeline, ledger), max_batch=1)
    writer.start()
    try:
        first = writer.enqueue([command("first")])
        second = writer.enqueue([command("second")])
        ledger.second_queued.set()
        return first.result(WAIT), second.result(WAIT)
    finally:
        writer.stop()


def test_the_next_batch_is_decided_while_the_last_is_written_and_answered_after_it() -> None:
    ledger = FakePipeline()
    first, second = run_two_batches(ledger)
    assert ledger.calls == [
        ("decide_ahead", "first"),
        ("decide_ahead", "second"),
        ("write_ahead", "first"),
        ("settle_ahead", "first"),
        ("write_ahead", "second"),
        ("settle_ahead", "second"),
    ]
    assert [first[0].extra["source"], second[0].extra["source"]] == ["ahead", "ahead"]


def test_when_a_write_fails_both_batches_run_again_in_order_and_the_ahead_decision_is_dropped() -> None:
    ledger = FakePipeline(failing_write="first")
    first, second = run_two_batches(ledger)
    assert ledger.calls == [
        ("decide_ahead", "first"),
        ("decide_ahead", "second"),
        ("write_ahead", "first"),
        ("abandon_ahead", "IntegrityError"),
        ("run_batch", "first"),
        ("run_batch", "second"),
    ]
    assert [first[0].extra["source"], second[0].extra["source"]] == ["run_batch", "run_batch"]
