"""One writer per ledger: commands that arrive together are saved in one transaction.

The event store serialises commits through a table lock, so one transaction per
command caps a process at one commit (and one fsync) per command. Callers hand their
commands to the writer and wait; the writer takes everything queued, runs it through its
pipeline (``commands.pipeline``: in order, each command all or nothing on its own), commits
once, and answers each caller with its own results. HTTP worker processes reach the
same writer through ``commands.remote``.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from eventsourcing.persistence import InterfaceError, OperationalError

from commands import messages as m
from commands.contracts import (
    Answers,
    CommandContext,
    CommandResult,
    Items,
    Observer,
    Stopped,
    Writer,
    result_code,
)
from commands.eventstore.batch import CommitOutcomeUnknown
from commands.eventstore.postgres import RECONNECT_SECONDS
from commands.phases import Ahead
from commands.pipeline import Pipeline

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Request:
    items: Items
    answer: Future[Answers]


class GroupCommitter(Writer):
    def __init__(self, pipeline: Pipeline, max_batch: int = 256, reconnect_seconds: float = RECONNECT_SECONDS) -> None:
        if not pipeline.trusted:
            raise ValueError("the group committer is its pipeline's one writer: give it a trusted pipeline")
        self.pipeline = pipeline
        self.max_batch = max_batch
        # How long a batch whose save lost its connection is tried again (a restart, a failover).
        self.reconnect_seconds = reconnect_seconds
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._saver = ThreadPoolExecutor(1, thread_name_prefix="group-save")
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
        self._saver.shutdown(wait=False)

    @property
    def alive(self) -> bool:
        return not self._stopping and self._thread is not None and self._thread.is_alive()

    def enqueue(self, items: Items) -> Future[Answers]:
        if self._stopping or self._thread is None:
            raise Stopped("the ledger's writer is not running")
        answer: Future[Answers] = Future()
        self._queue.put(_Request(items, answer))
        return answer

    def _run(self) -> None:
        # While one batch is written (in the save thread, waiting on the database), the next is
        # decided here. The save thread answers a batch's callers once it is written; the next
        # batch's write starts only after that, so batches are saved and answered in order.
        inflight: _InFlight | None = None
        while True:
            batch = self._take(block=inflight is None)
            ahead = self._decide_ahead(batch) if batch else None
            if inflight is not None and not self._await_saved(inflight):
                ahead = None  # it was decided on what has just failed to save
            inflight = None
            if batch is None:
                return
            if ahead is not None:
                inflight = _InFlight(batch, self._saver.submit(self._save_ahead, batch, ahead))
            elif batch:
                self._answer(batch)

    def _take(self, block: bool) -> list[_Request] | None:
        """What is queued, up to a batch; waits for the first only if told to block.
        None when the writer is stopping and nothing else is queued."""
        batch: list[_Request] = []
        size = 0
        while size < self.max_batch:
            try:
                more = self._queue.get() if block and not batch else self._queue.get_nowait()
            except queue.Empty:
                break
            if more is None:
                if not batch:
                    return None
                self._queue.put(None)  # stop once this batch is answered
                break
            batch.append(more)
            size += len(more.items)
        return batch

    def _decide_ahead(self, batch: list[_Request]) -> Ahead | None:
        try:
            return self.pipeline.decide_ahead(_items(batch))
        except Exception:  # noqa: BLE001 - the database is down, say: the batch then runs in the usual way
            return None

    def _save_ahead(self, batch: list[_Request], ahead: Ahead) -> None:
        """In the save thread: write a batch decided ahead, and answer its callers at once, rather
        than once this thread has decided the next. Raises only if nothing was saved."""
        started = time.monotonic()
        self.pipeline.write_ahead(ahead)
        try:
            answers = self.pipeline.settle_ahead(ahead)
            self.pipeline.observer.batch_saved(len(answers), time.monotonic() - started)
        except Exception as error:  # a defect: the batch is saved, so it must not run again
            log.exception("a saved batch of %d requests could not be answered", len(batch))
            _fail(batch, error, self.pipeline.observer)
            return
        self._answered(batch, answers)

    def _await_saved(self, inflight: _InFlight) -> bool:
        """Wait for a batch decided ahead to be saved and answered; if nothing was saved, run it
        again in the usual way."""
        try:
            inflight.saved.result()
        except Exception as error:  # noqa: BLE001 - a conflict, or the database is down
            self.pipeline.abandon_ahead(error)
            self._answer(inflight.batch)
            return False
        return True

    def _answer(self, batch: list[_Request]) -> None:
        items = _items(batch)
        deadline = time.monotonic() + self.reconnect_seconds
        while True:
            try:
                started = time.monotonic()
                answers = self.pipeline.run(items)
                self.pipeline.observer.batch_saved(len(answers), time.monotonic() - started)
                break
            except (InterfaceError, OperationalError) as error:
                # A lost connection before the commit saved nothing, so the batch can run again on a
                # fresh one (a database restart leaves every pooled connection broken); one lost
                # during a commit whose outcome stayed unknown must not run again.
                if isinstance(error, CommitOutcomeUnknown) or time.monotonic() >= deadline:
                    log.warning("a batch of %d commands failed: %s", len(items), error)
                    _fail(batch, error, self.pipeline.observer)
                    return
                log.info("a batch of %d commands lost its connection; trying again: %s", len(items), error)
                self.pipeline.ledger.store.replace_broken_connections()
                time.sleep(0.1)
            except Exception as error:  # noqa: BLE001 - every caller hears it
                log.warning("a batch of %d commands failed: %s", len(items), error)
                _fail(batch, error, self.pipeline.observer)
                return
        self._answered(batch, answers)

    def _answered(self, batch: list[_Request], answers: Answers) -> None:
        self.batches += 1
        self.commands += len(answers)
        _report(self.pipeline.observer, _items(batch), answers)
        start = 0
        for request in batch:
            request.answer.set_result(answers[start : start + len(request.items)])
            start += len(request.items)


@dataclass(frozen=True, slots=True)
class _InFlight:
    batch: list[_Request]
    saved: Future[None]  # saved and answered


def _items(batch: list[_Request]) -> list[tuple[m.Command, CommandContext]]:
    return [item for request in batch for item in request.items]


def _report(observer: Observer, items: Items, outcomes: Sequence[object]) -> None:
    """Each command's result code, for metrics: ``ok``, or its error's code."""
    for (command, _), outcome in zip(items, outcomes, strict=True):
        observer.command_answered(type(command).__name__, result_code(outcome))


def _fail(batch: list[_Request], error: BaseException, observer: Observer) -> None:
    """Every caller of the batch hears the error."""
    items = _items(batch)
    _report(observer, items, [error] * len(items))
    for request in batch:
        request.answer.set_exception(error)


class InlineWriter(Writer):
    """Runs each call's commands through the pipeline in the caller's thread: for scripts, tests,
    and a service with group commit turned off. Concurrent callers each run their own batch;
    conflicts between them are retried as between any two writers."""

    def __init__(self, pipeline: Pipeline) -> None:
        if pipeline.trusted:
            raise ValueError("an inline writer's callers run concurrently: its pipeline must not trust its cache")
        self.pipeline = pipeline
        self._stopped = False

    def enqueue(self, items: Items) -> Future[Answers]:
        if self._stopped:
            raise Stopped("the ledger's writer is not running")
        done: Future[Answers] = Future()
        try:
            answers = self.pipeline.run(items)
        except Exception as error:  # noqa: BLE001 - the caller hears it from the future, as from any writer
            _report(self.pipeline.observer, items, [error] * len(items))
            done.set_exception(error)
            return done
        _report(self.pipeline.observer, items, answers)
        done.set_result(answers)
        return done

    async def submit(self, command: m.Command, ctx: CommandContext | None = None) -> CommandResult:
        """In a worker thread: the pipeline waits on the database."""
        return await asyncio.to_thread(self.execute, command, ctx)

    def stop(self, timeout: float = 30) -> None:
        self._stopped = True

    @property
    def alive(self) -> bool:
        return not self._stopped
