"""The Ledger: the eventsourcing application that runs every command.

Each command loads what it needs, decides in the domain, and saves every touched
aggregate in one transaction. A version conflict (another writer got there first)
reruns the command on fresh state, a bounded number of times.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID, uuid4

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import ApplicationRecorder, IntegrityError, Mapper, StoredEvent, Transcoder
from eventsourcing.popo import POPOFactory
from eventsourcing.utils import EnvType

from commands import messages as m
from commands.handlers import Handler, Outcome
from commands.handlers.hints import created, streams
from commands.handlers.inventory import (
    adjust_stock,
    move_stock,
    receive_stock,
    receive_transfer,
    set_stock_policy,
    transfer_stock,
)
from commands.handlers.locations import register_location
from commands.handlers.orders import (
    cancel_order,
    deliver_shipment,
    place_order,
    receive_return,
    record_payment,
    request_return,
    ship_order,
)
from commands.keystore import PostgresKeyStore
from commands.loader import AggregateLoader
from commands.personal_data import MemoryKeyStore, PersonalData
from commands.store import (
    EventTime,
    HeadCheck,
    HeadMoved,
    IdempotencyRecord,
    MemoryLedgerRecorder,
    PostgresLedgerRecorder,
    StoredResult,
)
from commands.transcoder import LedgerMapper, LedgerTranscoder
from commands.unit_of_work import UnitOfWork
from domain.base import LedgerAggregate
from domain.errors import IdempotencyKeyReused, LedgerError, StaleVersion, VersionConflict
from domain.meta import SYSTEM_ACTOR, Meta
from domain.orders import Order
from domain.stock import StockItem

if TYPE_CHECKING:
    from commands.group_commit import Writer

BATCH_ATTEMPTS = 3

# After seeing another writer's events, the writer looks for more before every batch for this
# long, rather than deciding on its cache and finding out at the insert.
LOOK_SECONDS = 1.0

HANDLERS: Mapping[type[m.Command], Handler] = {
    m.RegisterLocation: register_location,
    m.ReceiveStock: receive_stock,
    m.AdjustStock: adjust_stock,
    m.MoveStock: move_stock,
    m.TransferStock: transfer_stock,
    m.ReceiveTransfer: receive_transfer,
    m.SetStockPolicy: set_stock_policy,
    m.PlaceOrder: place_order,
    m.RecordPayment: record_payment,
    m.CancelOrder: cancel_order,
    m.ShipOrder: ship_order,
    m.DeliverShipment: deliver_shipment,
    m.RequestReturn: request_return,
    m.ReceiveReturn: receive_return,
}


class Observer:
    """What the write side reports as it works, for metrics; this one ignores it all."""

    def batch_saved(self, commands: int, seconds: float) -> None:
        """A group commit of ``commands`` ran and was saved in ``seconds``."""

    def command_answered(self, command: str, result: str) -> None:
        """A command was answered: ``ok``, or its error's code."""

    def conflict(self) -> None:
        """A command or batch lost to another writer and runs again."""


def result_code(outcome: object) -> str:
    """``ok``, or the stable code of the error a command was answered with."""
    if isinstance(outcome, LedgerError):
        return outcome.code
    return "ok" if isinstance(outcome, CommandResult) else "database_unavailable"


@dataclass(frozen=True, slots=True)
class CommandContext:
    """Who sends a command and under which request; not part of what is asked."""

    actor: str = SYSTEM_ACTOR
    correlation_id: str = ""
    causation_id: str | None = None
    idempotency_key: str | None = None
    expected_version: int | None = None


@dataclass(frozen=True, slots=True)
class CommandResult:
    id: str
    version: int
    position: int | None
    extra: dict[str, Any] = field(default_factory=dict)
    replayed: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "version": self.version, "position": self.position, **self.extra}

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> CommandResult:
        rest = {k: v for k, v in stored.items() if k not in ("id", "version", "position")}
        return cls(stored["id"], stored["version"], stored["position"], rest, replayed=True)


def fingerprint(command: m.Command) -> str:
    """A stable hash of what a command asks, ignoring ids the ledger generates."""
    body = json.dumps({"command": type(command).__name__, **asdict(command)}, sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


class Ledger(Application[UUID]):
    name = "Ledger"
    env: ClassVar[dict[str, str]] = {
        "APPLICATION_RECORDER_TOPIC": "commands.store:PostgresLedgerRecorder",
    }
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {StockItem: 100, Order: 50}

    def __init__(
        self,
        env: EnvType | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        new_id: Callable[[], str] | None = None,
        max_attempts: int = 10,
        backoff_seconds: float = 0.005,
        cache_size: int = 10_000,
    ) -> None:
        super().__init__(env)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.new_id = new_id or (lambda: str(uuid4()))
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.conflicts = 0
        self.resyncs = 0  # batches decided again because another writer had saved since the last look
        self._look_until = 0.0
        self.loader = AggregateLoader(
            self._results(),
            self.snapshots.recorder if self.snapshots else None,
            self.mapper,
            cache_size,
        )
        # Set by the composition root: commands then go through one writer per process.
        self.writer: Writer | None = None
        self.observer: Observer = Observer()
        recorder = self._results()
        keys = (
            PostgresKeyStore(recorder.datastore) if isinstance(recorder, PostgresLedgerRecorder) else MemoryKeyStore()
        )
        self.personal_data = PersonalData(keys)

    def _take_snapshots(self, processing_event: ProcessingEvent[UUID]) -> None:
        """Snapshot from the saved aggregate in memory, rather than reloading it."""
        if self.snapshots is not None and (due := self._snapshots_due(processing_event)):
            self.snapshots.recorder.insert_events(due)

    def _snapshots_due(self, processing_event: ProcessingEvent[UUID]) -> list[StoredEvent]:
        """The snapshots a save makes due, encoded now: the aggregates may change again before
        they are written, when the writer decides its next batch while this one is saved."""
        if self.snapshots is None:
            return []
        due = {
            event.originator_id
            for event in processing_event.events
            if (interval := self.snapshotting_intervals.get(type(processing_event.aggregates.get(event.originator_id))))
            and event.originator_version % interval == 0
        }
        return [self.snapshots.mapper.to_stored_event(Snapshot.take(processing_event.aggregates[i])) for i in due]

    def construct_mapper(self) -> Mapper[UUID]:
        return self.factory.mapper(transcoder=self.construct_transcoder(), mapper_class=LedgerMapper)

    def construct_transcoder(self) -> Transcoder:
        transcoder = LedgerTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    def construct_recorder(self) -> ApplicationRecorder:
        if isinstance(self.factory, POPOFactory):
            return MemoryLedgerRecorder()
        return super().construct_recorder()

    # --- one method per command ------------------------------------------------

    def register_location(self, cmd: m.RegisterLocation, ctx: CommandContext = CommandContext()) -> CommandResult:
        return self.execute(cmd, ctx)

    def receive_stock(self, cmd: m.ReceiveStock, ctx: CommandContext = CommandContext()) -> CommandResult:
        return self.execute(cmd, ctx)

    def adjust_stock(self, cmd: m.AdjustStock, ctx: CommandContext = CommandContext()) -> CommandResult:
        return self.execute(cmd, ctx)

    def move_stock(self, cmd: m.MoveStock, ctx: CommandContext = CommandContext()) -> CommandResult:
        return self.execute(cmd, ctx)

    def transfer_stock(self, cmd: m.TransferStock, ctx: CommandContext = CommandContext()) -> CommandResult:
        return self.execute(cmd, ctx)

    def receive_transfer(self, cmd: m.ReceiveTransfer, ctx: CommandContext = CommandContext()) -> CommandResult:
        return self.execute(cmd, ctx)

    def set_stock_policy(self, cmd: m.SetStockPolicy, ctx: CommandContext = CommandContext()) -> CommandResult:
        return self.execute(cmd, ctx)

    def place_order(self, cmd: m.PlaceOrder, ctx: CommandContext = CommandContext()) -> CommandResult:
        return self.execute(cmd, ctx)

    def record_payment(self, cmd: m.RecordPayment, ctx: CommandContext = CommandContext()) -> CommandResult:
        return self.execute(cmd, ctx)

    def cancel_order(self, cmd: m.CancelOrder, ctx: CommandContext = CommandContext()) -> CommandResult:
        return self.execute(cmd, ctx)

    def ship_order(self, cmd: m.ShipOrder, ctx: CommandContext = CommandContext()) -> CommandResult:
        return self.execute(cmd, ctx)

    def deliver_shipment(self, cmd: m.DeliverShipment, ctx: CommandContext = CommandContext()) -> CommandResult:
        return self.execute(cmd, ctx)

    def request_return(self, cmd: m.RequestReturn, ctx: CommandContext = CommandContext()) -> CommandResult:
        return self.execute(cmd, ctx)

    def receive_return(self, cmd: m.ReceiveReturn, ctx: CommandContext = CommandContext()) -> CommandResult:
        return self.execute(cmd, ctx)

    # --- the command loop ------------------------------------------------------

    def execute(self, command: m.Command, ctx: CommandContext = CommandContext()) -> CommandResult:
        if self.writer is not None:
            return self.writer.execute(command, ctx)
        return self._execute(command, ctx)

    def _execute(self, command: m.Command, ctx: CommandContext = CommandContext()) -> CommandResult:
        handler = HANDLERS[type(command)]
        meta = self.meta_for(command, ctx)
        request_hash, prior = self._replay(command, ctx)
        if prior is not None:
            return prior
        command = command.with_ids(self.new_id)
        for attempt in range(1, self.max_attempts + 1):
            prepared = self.prepare(command, meta, handler)
            try:
                _check_expected_version(prepared.outcome, ctx.expected_version, prepared.uow)
            except StaleVersion:
                self.loader.checkin(prepared.uow.touched())
                raise
            try:
                return self.commit(prepared, ctx, request_hash)
            except IntegrityError:
                if ctx.idempotency_key is not None:
                    prior = self._prior_result(ctx, request_hash)
                    if prior is not None:
                        return prior
                self._conflict()
                if attempt < self.max_attempts:
                    time.sleep(random.uniform(0, self.backoff_seconds * 2**attempt))  # noqa: S311
        raise VersionConflict(
            f"{type(command).__name__} lost to concurrent writers {self.max_attempts} times; try again"
        )

    async def run(self, command: m.Command, ctx: CommandContext = CommandContext()) -> CommandResult:
        """``execute`` for an event loop: waits for the writer without holding a thread."""
        if self.writer is not None:
            return await self.writer.submit(command, ctx)
        try:
            result = await asyncio.to_thread(self._execute, command, ctx)
        except Exception as error:
            self.observer.command_answered(type(command).__name__, result_code(error))
            raise
        self.observer.command_answered(type(command).__name__, "ok")
        return result

    def execute_many(self, items: Sequence[tuple[m.Command, CommandContext]]) -> list[CommandResult | LedgerError]:
        """Run commands in order, saved together; through the process's writer when it has one."""
        return self.submit_many(items).result()

    def submit_many(
        self, items: Sequence[tuple[m.Command, CommandContext]]
    ) -> Future[list[CommandResult | LedgerError]]:
        """``execute_many`` without waiting: the writer runs the commands while the caller goes on."""
        if self.writer is not None:
            return self.writer.enqueue(items)
        done: Future[list[CommandResult | LedgerError]] = Future()
        try:
            done.set_result(self.run_batch(items))
        except Exception as error:  # noqa: BLE001 - the caller hears it from the future, as from a writer
            done.set_exception(error)
        return done

    def run_batch(self, items: Sequence[tuple[m.Command, CommandContext]]) -> list[CommandResult | LedgerError]:
        """Run commands in order and save them in one transaction (group commit).

        Each command sees the ones before it, and each is all or nothing on its own: one
        that a rule refuses is undone alone and answered with its error, and its
        neighbours go on. If the shared transaction loses to another writer (a version
        or idempotency-key conflict), the batch runs again on fresh state, and if it keeps
        losing, every command runs on its own, with retries.
        A repeated idempotency key starts a new transaction, so the repeat sees the first.
        """
        outcomes: list[CommandResult | LedgerError | None] = [None] * len(items)
        for segment in _segments(items):
            self._run_segment(items, segment, outcomes)
        return _answered(outcomes)

    def decide_ahead(self, items: Sequence[tuple[m.Command, CommandContext]]) -> Ahead | None:
        """Decide a batch on the cache alone and encode it, without saving, so that the writer can
        decide its next batch while this one is written (``write_ahead``, from another thread).

        The aggregates go back into the cache at once, and the next batch goes on from them. If
        the write fails, ``abandon_ahead`` drops the cache, and both batches run again with
        ``run_batch``. None when this batch must run with ``run_batch`` once nothing is being
        written: the writer has to look for other writers' events first, or a key repeats in it."""
        if not self._trusts_cache or self.loader.synced is None or time.monotonic() < self._look_until:
            return None
        segments = _segments(items)
        if len(segments) != 1:
            return None
        outcomes: list[CommandResult | LedgerError | None] = [None] * len(items)
        batch = self._queue(items, segments[0], outcomes)
        if not batch:
            return Ahead(outcomes, None)
        decision = self._decide(batch, outcomes)
        saving = self._encode(decision)
        self.loader.checkin(decision.touched)
        return Ahead(outcomes, saving)

    def write_ahead(self, ahead: Ahead) -> None:
        """Save a batch decided ahead, once the one before it is settled; raises as the insert does."""
        if ahead.saving is not None:
            self._write(ahead.saving)

    def settle_ahead(self, ahead: Ahead) -> list[CommandResult | LedgerError]:
        """The answers of a batch decided ahead and written."""
        if ahead.saving is not None:
            self._settle(ahead.saving, ahead.outcomes)
        return _answered(ahead.outcomes)

    def abandon_ahead(self, error: BaseException) -> None:
        """A batch decided ahead was not saved, and the cache holds what it decided (and maybe the
        next batch's decisions on top): nothing there can be trusted, so all of it goes."""
        if isinstance(error, HeadMoved):
            self.resyncs += 1
            self._look_until = time.monotonic() + LOOK_SECONDS
        elif isinstance(error, IntegrityError):
            self._conflict()
        self.loader.forget()

    def _queue(
        self,
        items: Sequence[tuple[m.Command, CommandContext]],
        indexes: range,
        outcomes: list[CommandResult | LedgerError | None],
    ) -> list[_Queued]:
        """The commands to decide: repeats answered from their first run, ids generated once."""
        batch: list[_Queued] = []
        keys = [(ctx.actor, ctx.idempotency_key) for _, ctx in (items[i] for i in indexes) if ctx.idempotency_key]
        stored = self._results().find_results(keys)  # one query for the segment, whose keys differ
        for index in indexes:
            command, ctx = items[index]
            try:
                request_hash, prior = self._replay(command, ctx, stored)
                if prior is not None:
                    outcomes[index] = prior
                    continue
                meta = self.meta_for(command, ctx)
                with_ids = command.with_ids(self.new_id)
                batch.append(_Queued(index, with_ids, ctx, meta, request_hash, created(command, with_ids)))
            except LedgerError as error:
                outcomes[index] = error
        return batch

    def _run_segment(
        self,
        items: Sequence[tuple[m.Command, CommandContext]],
        indexes: range,
        outcomes: list[CommandResult | LedgerError | None],
    ) -> None:
        batch = self._queue(items, indexes, outcomes)
        if not batch:
            return
        # Another process's batch may have saved one of ours first: run the batch again on
        # fresh state (the sync drops what it changed), then, if it keeps losing, one by one.
        attempt, look = 1, False
        while True:
            try:
                decision = self._decide(batch, outcomes, look)
                # If this raises, nothing was saved and nothing goes back to the cache: the
                # aggregates were checked out, and dropping them makes the next command load them.
                self._save(decision, outcomes)
                self.loader.checkin(decision.touched)
                return
            except HeadMoved:
                # Decided on the cache alone, and another writer had saved since: look, then
                # decide again. Not a lost race: nothing of theirs was in the way yet.
                self.resyncs += 1
                self._look_until = time.monotonic() + LOOK_SECONDS
                look = True
            except IntegrityError:
                self._conflict()
                look = True
                if attempt == BATCH_ATTEMPTS:
                    break
                time.sleep(random.uniform(0, self.backoff_seconds * 2**attempt))  # noqa: S311
                attempt += 1
        for queued in batch:
            outcomes[queued.index] = self._execute_alone(*items[queued.index])

    def _execute_alone(self, command: m.Command, ctx: CommandContext) -> CommandResult | LedgerError:
        try:
            return self._execute(command, ctx)
        except LedgerError as error:
            return error

    @property
    def _trusts_cache(self) -> bool:
        # Only the process's one writer may trust its cache, and only after the sync; any other
        # caller fast-forwards what it loads anyway, so the sync would be a wasted query.
        return self.writer is not None and self.writer.runs_batches

    def _decide(
        self, batch: list[_Queued], outcomes: list[CommandResult | LedgerError | None], look: bool = False
    ) -> _Decision:
        """Run the commands in order in one unit of work, each all or nothing; nothing is saved.

        The process's writer trusts its cache. It looks for other writers' events first only
        when it has lately seen some (or is told to ``look``): otherwise the insert checks,
        under the table lock, that the ledger's head is where the cache last saw it."""
        trusted = self._trusts_cache
        strict = None
        if trusted:
            strict = not look and self.loader.synced is not None and time.monotonic() >= self._look_until
            if not strict:
                self.loader.sync()
        uow = UnitOfWork(self.loader, self.personal_data, trusted=trusted)
        uow.known_absent(i for queued in batch for i in queued.created)
        uow.prefetch(i for queued in batch for i in streams(queued.command))  # two queries for the batch
        events: list[LedgerAggregate.Event] = []
        records: list[IdempotencyRecord] = []
        decided: list[tuple[_Queued, CommandResult, int]] = []  # with the index of the command's last event
        for queued in batch:
            uow.begin()
            try:
                outcome = HANDLERS[type(queued.command)](queued.command, uow, queued.meta)
                _check_expected_version(outcome, queued.ctx.expected_version, uow)
            except LedgerError as error:
                uow.rollback()
                outcomes[queued.index] = error
                continue
            events += uow.command_events()
            # The version now: a later command of the batch may change the same aggregate.
            result = CommandResult(outcome.id, outcome.aggregate.version, None, outcome.extra)
            decided.append((queued, result, len(events) - 1))
            if queued.ctx.idempotency_key is not None:
                records.append(
                    IdempotencyRecord(
                        queued.ctx.actor,
                        queued.ctx.idempotency_key,
                        queued.request_hash,
                        result.as_dict(),
                        len(events) - 1,
                    )
                )
        processing = ProcessingEvent[UUID]()
        for aggregate in uow.changed():
            aggregate.collect_events()  # the events go in command order, gathered above
            processing.aggregates[aggregate.id] = aggregate
        processing.events = list(events)
        processing.saved_kwargs = {"idempotency": records, "times": _event_times(events)}
        return _Decision(processing, decided, uow.touched(), strict)

    def _save(self, decision: _Decision, outcomes: list[CommandResult | LedgerError | None]) -> None:
        saving = self._encode(decision)
        self._write(saving)
        self._settle(saving, outcomes)

    def _encode(self, decision: _Decision) -> _Saving:
        """The batch's events and due snapshots as stored, from the aggregates as decided."""
        processing = decision.processing
        return _Saving(
            decision, [self.mapper.to_stored_event(e) for e in processing.events], self._snapshots_due(processing)
        )

    def _write(self, saving: _Saving) -> None:
        """Save in one transaction; any thread may do it, while no other batch of this writer is saved.
        Raises IntegrityError (``HeadMoved`` included) when another writer is in the way."""
        decision = saving.decision
        if decision.strict is not None and (synced := self.loader.synced) is not None:
            saving.head = HeadCheck(synced, decision.strict)  # the insert reads the head under the lock
        if saving.events:
            ids = self.recorder.insert_events(saving.events, **decision.processing.saved_kwargs, head=saving.head)
            saving.positions = list(ids or ())
        if saving.snapshots and self.snapshots is not None:
            self.snapshots.recorder.insert_events(saving.snapshots)

    def _settle(self, saving: _Saving, outcomes: list[CommandResult | LedgerError | None]) -> None:
        """After the save: the loader learns the new head, and each command gets its position."""
        head, positions = saving.head, saving.positions
        if positions and head is not None and head.seen is not None:
            if head.seen != head.expected:
                self._look_until = time.monotonic() + LOOK_SECONDS  # someone wrote between our look and our insert
            self.loader.saved(positions, head.seen)
        for queued, result, last in saving.decision.decided:
            position = positions[last] if positions and last >= 0 else None
            outcomes[queued.index] = CommandResult(result.id, result.version, position, result.extra)

    def meta_for(self, command: m.Command, ctx: CommandContext = CommandContext()) -> Meta:
        return Meta.at(
            self.clock(),
            command.occurred_at,
            actor=ctx.actor,
            correlation_id=ctx.correlation_id,
            causation_id=ctx.causation_id,
        )

    def prepare(self, command: m.Command, meta: Meta, handler: Handler | None = None) -> Prepared:
        """Load and decide, without saving: the first half of a command."""
        uow = UnitOfWork(self.loader, self.personal_data)
        try:
            outcome = (handler or HANDLERS[type(command)])(command, uow, meta)
        except BaseException:
            self.loader.checkin(uow.touched())  # those a rule stopped half-way stay out
            raise
        return Prepared(outcome, uow)

    def commit(
        self, prepared: Prepared, ctx: CommandContext = CommandContext(), request_hash: str = ""
    ) -> CommandResult:
        """Save what ``prepare`` decided, in one transaction; raises IntegrityError on conflict."""
        outcome = prepared.outcome
        result = CommandResult(outcome.id, outcome.aggregate.version, None, outcome.extra)
        record = None
        if ctx.idempotency_key is not None:
            record = IdempotencyRecord(ctx.actor, ctx.idempotency_key, request_hash, result.as_dict())
        # A failed save leaves its aggregates looking clean but unsaved: they must not
        # go back into the cache, so they are checked in only after it succeeds.
        changed = prepared.uow.changed()
        # Business and recorded times, indexed in the same transaction for as-of reads.
        times = _event_times(_ledger_events(changed))
        recordings = self.save(*changed, idempotency=[record] if record else [], times=times)
        self.loader.checkin(prepared.uow.touched())
        position = recordings[-1].notification.id if recordings else None
        return CommandResult(result.id, result.version, position, result.extra)

    def as_of(self, stream_id: UUID, moment: datetime, time: str = "business") -> LedgerAggregate | None:
        """The aggregate as it stood at ``moment``: after its last event with business (or recorded)
        time at or before then, folded in ledger order. None if it had no event by then."""
        field = "occurred_at" if time == "business" else "recorded_at"
        recorder = self._results()
        if isinstance(recorder, PostgresLedgerRecorder) and self.snapshots is not None:
            # One query, and the events fold themselves, as the command side's loader does.
            table = getattr(self.snapshots.recorder, "events_table_name", "")
            snapshot, events = recorder.select_as_of(table, stream_id, field, moment)
            state: Any = self.mapper.to_domain_event(snapshot).mutate(None) if snapshot else None  # type: ignore[attr-defined]
            for stored in events:
                state = self.mapper.to_domain_event(stored).mutate(state)  # type: ignore[attr-defined]
            return state if isinstance(state, LedgerAggregate) else None
        version = recorder.version_at(stream_id, field, moment)
        if version is None:
            return None
        aggregate: LedgerAggregate = self.repository.get(stream_id, version=version)
        return aggregate

    def _replay(
        self, command: m.Command, ctx: CommandContext, stored: Mapping[tuple[str, str], StoredResult] | None = None
    ) -> tuple[str, CommandResult | None]:
        """The command's hash, and the first answer if its idempotency key was used before (looked
        up in ``stored`` when the caller fetched the batch's records). Only a command with a key is
        ever compared with an earlier one, so only it is hashed."""
        if ctx.idempotency_key is None:
            return "", None
        request_hash = fingerprint(command)
        if stored is not None:
            return request_hash, _prior(ctx, request_hash, stored.get((ctx.actor, ctx.idempotency_key)))
        return request_hash, self._prior_result(ctx, request_hash)

    def _prior_result(self, ctx: CommandContext, request_hash: str) -> CommandResult | None:
        assert ctx.idempotency_key is not None
        return _prior(ctx, request_hash, self._results().find_result(ctx.actor, ctx.idempotency_key))

    def _conflict(self) -> None:
        self.conflicts += 1
        self.observer.conflict()

    def replace_broken_connections(self) -> None:
        """After a lost connection: drop every pooled connection the database no longer answers on."""
        if isinstance(self.recorder, PostgresLedgerRecorder):
            self.recorder.replace_broken_connections()

    def _results(self) -> PostgresLedgerRecorder | MemoryLedgerRecorder:
        recorder = self.recorder
        if not isinstance(recorder, PostgresLedgerRecorder | MemoryLedgerRecorder):
            raise TypeError("the Ledger needs a ledger recorder (APPLICATION_RECORDER_TOPIC)")
        return recorder


def _prior(ctx: CommandContext, request_hash: str, stored: StoredResult | None) -> CommandResult | None:
    """The first answer under the command's key, if any; the key used for another command is an error."""
    if stored is None:
        return None
    if stored.request_hash != request_hash:
        raise IdempotencyKeyReused(f"Idempotency-Key {ctx.idempotency_key!r} was used for another command")
    return CommandResult.from_stored(stored.result)


@dataclass(frozen=True, slots=True)
class _Queued:
    index: int
    command: m.Command
    ctx: CommandContext
    meta: Meta
    request_hash: str
    created: list[UUID]


@dataclass(frozen=True, slots=True)
class _Decision:
    processing: ProcessingEvent[UUID]
    decided: list[tuple[_Queued, CommandResult, int]]  # with the index of each command's last event
    touched: list[LedgerAggregate]
    # None: decided on loaded state. True: on the cache alone, so the head must not have moved.
    strict: bool | None


@dataclass(slots=True)
class _Saving:
    decision: _Decision
    events: list[StoredEvent]
    snapshots: list[StoredEvent]
    head: HeadCheck | None = None  # set when the writer trusts its cache; the insert saw the ledger's head
    positions: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Ahead:
    """A batch decided ahead of its save: the answers so far, and what it will write."""

    outcomes: list[CommandResult | LedgerError | None]
    saving: _Saving | None


@dataclass(frozen=True, slots=True)
class Prepared:
    outcome: Outcome
    uow: UnitOfWork


def _segments(items: Sequence[tuple[m.Command, CommandContext]]) -> list[range]:
    """Runs of commands that can share a transaction: a repeated idempotency key starts a new
    one, so the repeat sees the first."""
    segments, start = [], 0
    while start < len(items):
        end, keys = start, set()
        while end < len(items):
            ctx = items[end][1]
            if ctx.idempotency_key is not None:
                if (ctx.actor, ctx.idempotency_key) in keys:
                    break
                keys.add((ctx.actor, ctx.idempotency_key))
            end += 1
        segments.append(range(start, end))
        start = end
    return segments


def _answered(outcomes: list[CommandResult | LedgerError | None]) -> list[CommandResult | LedgerError]:
    answered = [outcome for outcome in outcomes if outcome is not None]
    if len(answered) != len(outcomes):  # callers pair answers with commands by position
        raise RuntimeError("a command of the batch was left without an answer")
    return answered


def _ledger_events(aggregates: list[LedgerAggregate]) -> Iterator[LedgerAggregate.Event]:
    for aggregate in aggregates:
        for event in aggregate.pending_events:
            if isinstance(event, LedgerAggregate.Event):
                yield event


def _event_times(events: Iterable[LedgerAggregate.Event]) -> list[EventTime]:
    return [(e.originator_id, e.originator_version, e.occurred_at, e.timestamp) for e in events]


def _check_expected_version(outcome: Outcome, expected: int | None, uow: UnitOfWork) -> None:
    if expected is None:
        return
    before = uow.version_before(outcome.aggregate)  # before this command, in a batch too
    if before != expected:
        raise StaleVersion(f"{outcome.id} is at version {before}, not {expected}", expected=expected, actual=before)
