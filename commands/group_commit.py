"""One writer per ledger: commands that arrive together are saved in one transaction.

The event store serialises commits through a table lock, so one transaction per
command caps a process at one commit (and one fsync) per command. Callers hand their
commands to the writer and wait; the writer takes everything queued, runs it through
``Ledger.run_batch`` (in order, each command all or nothing on its own), commits
once, and answers each caller with its own results. HTTP worker processes reach the
same writer through ``commands.remote``.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass

from commands import messages as m
from commands.ledger import CommandContext, CommandResult, Ledger
from domain.errors import LedgerError

log = logging.getLogger(__name__)

Items = Sequence[tuple[m.Command, CommandContext]]
Outcomes = list[CommandResult | LedgerError]


@dataclass(frozen=True, slots=True)
class _Request:
    items: Items
    answer: Future[Outcomes]


class Stopped(RuntimeError):
    """The writer has stopped (or, seen from an HTTP process, gone away); no more commands are taken."""


class Writer(ABC):
    """Where a process's Ledger sends its commands: its own group committer, or, in an HTTP
    worker process, the one writer of the serving process (``commands.remote``)."""

    # Only the writer that runs the batches itself may trust the Ledger's aggregate cache.
    runs_batches: bool = False

    @abstractmethod
    def enqueue(self, items: Items) -> Future[Outcomes]:
        """Hand commands over; the future answers each with its result or error, in order."""

    @abstractmethod
    def stop(self, timeout: float = 30) -> None: ...

    def execute(self, command: m.Command, ctx: CommandContext) -> CommandResult:
        """One command through the writer; raises its error as ``Ledger.execute`` would."""
        (outcome,) = self.execute_many([(command, ctx)])
        if isinstance(outcome, LedgerError):
            raise outcome
        return outcome

    async def submit(self, command: m.Command, ctx: CommandContext) -> CommandResult:
        """``execute`` for an event loop: awaits the writer's answer without holding a thread."""
        (outcome,) = await asyncio.wrap_future(self.enqueue([(command, ctx)]))
        if isinstance(outcome, LedgerError):
            raise outcome
        return outcome

    def execute_many(self, items: Items) -> Outcomes:
        """Commands through the writer, in order and saved together; each outcome a result or an error."""
        return self.enqueue(items).result()


class GroupCommitter(Writer):
    runs_batches = True

    def __init__(self, ledger: Ledger, max_batch: int = 256) -> None:
        self.ledger = ledger
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.batches = 0
        self.commands = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30) -> None:
        """Answer what is queued, then stop."""
        self._stopping = True
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout)

    def enqueue(self, items: Items) -> Future[Outcomes]:
        if self._stopping or self._thread is None:
            raise Stopped("the ledger's writer is not running")
        answer: Future[Outcomes] = Future()
        self._queue.put(_Request(items, answer))
        return answer

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch, size = [first], len(first.items)
            while size < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # stop once this batch is answered
                    break
                batch.append(more)
                size += len(more.items)
            self._answer(batch)

    def _answer(self, batch: list[_Request]) -> None:
        items = [item for request in batch for item in request.items]
        try:
            outcomes = self.ledger.run_batch(items)
        except Exception as error:  # noqa: BLE001 - the database is down, say: every caller hears it
            log.warning("a batch of %d commands failed: %s", len(items), error)
            for request in batch:
                request.answer.set_exception(error)
            return
        self.batches += 1
        self.commands += len(items)
        start = 0
        for request in batch:
            request.answer.set_result(outcomes[start : start + len(request.items)])
            start += len(request.items)
