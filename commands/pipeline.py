"""The one path every command takes: a batch, in five phases.

    admit     answers repeats from their idempotency records (one query for the batch),
              stamps each command's metadata and generates its missing ids;
    prefetch  loads every stream the batch's commands name in their registry ``reads``, in
              rounds of two queries for the whole batch, and every customer key sealing needs;
    decide    runs the handlers in order on what was loaded, each all or nothing on its own,
              with no I/O; a command that asks for a stream nobody named goes back to the
              prefetch and is decided again (``Observer.prefetch_missed``);
    encode    turns the events and due snapshots into stored rows, with the time-index rows and
              idempotency records, into one ``WriteBatch``;
    write     saves the ``WriteBatch`` in one transaction (``commands.eventstore``);
    settle    gives each command its position and returns the aggregates to the cache.

A single command is a batch of one. A batch that loses to another writer runs again on fresh
state; if it keeps losing, each of its commands runs as a batch of its own, with more tries.
The group committer also decides a batch *ahead*, while the one before it is written
(``decide_ahead`` / ``write_ahead`` / ``settle_ahead`` / ``abandon_ahead``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from uuid import UUID, uuid4

from eventsourcing.domain import Snapshot
from eventsourcing.persistence import IntegrityError, StoredEvent

from commands.contracts import Answer, Answers, CommandContext, CommandResult, Items, Observer, fingerprint
from commands.eventstore.batch import EventTime, HeadCheck, HeadMoved, IdempotencyRecord, StoredResult, WriteBatch
from commands.handlers import Handled
from commands.ledger import Ledger
from commands.loader import AggregateLoader
from commands.personal_data import NO_SEALER
from commands.phases import (
    Admitted,
    Ahead,
    Asked,
    Decided,
    Decision,
    Encoded,
    Prefetched,
    R,
    answered,
    segments,
)
from commands.registry import SPECS
from commands.unit_of_work import UnitOfWork, Unprefetched
from domain.base import LedgerAggregate
from domain.errors import IdempotencyKeyReused, IdempotencyRecordUntrusted, LedgerError, StaleVersion, VersionConflict
from domain.meta import Meta
from domain.payments import MoneyPolicy

# Tries of a batch that keeps losing to other writers, before its commands run one by one.
BATCH_ATTEMPTS = 3

# After seeing another writer's events, the writer looks for more before every batch for this
# long, rather than deciding on its cache and finding out at the insert.
LOOK_SECONDS = 1.0

# Rounds of the prefetch: a command's reads may depend on what the round before loaded (the
# directory's locations, an order's allocations).
PREFETCH_ROUNDS = 3

# Tries of one command that keeps asking for streams its reads did not name.
MISSES_PER_COMMAND = 8


class Pipeline:
    def __init__(
        self,
        ledger: Ledger,
        *,
        trusted: bool = False,
        observer: Observer | None = None,
        clock: Callable[[], datetime] | None = None,
        new_id: Callable[[], str] | None = None,
        max_attempts: int = 10,
        backoff_seconds: float = 0.005,
        cache_size: int = 10_000,
        money: MoneyPolicy | None = None,
    ) -> None:
        self.ledger = ledger
        self.money = money or MoneyPolicy()
        # Only the process's one writer may trust its cache, after the sync; any other caller
        # fast-forwards what it loads anyway, so the sync would be a wasted query.
        self.trusted = trusted
        self.observer = observer or Observer()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.new_id = new_id or (lambda: str(uuid4()))
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.loader = AggregateLoader(ledger.store, ledger.mapper, cache_size)
        self.conflicts = 0
        self.resyncs = 0  # batches decided again because another writer had saved since the last look
        self._look_until = 0.0

    # --- a whole batch ----------------------------------------------------------

    def run(self, items: Items) -> Answers:
        """Run commands in order and save them in one transaction (group commit).

        Each command sees the ones before it, and each is all or nothing on its own: one that a
        rule refuses is undone alone and answered with its error. A repeated idempotency key
        starts a new transaction, so the repeat sees the first."""
        answers: list[Answer | None] = [None] * len(items)
        for segment in segments(items):
            self._run_segment(items, segment, answers)
        return answered(answers)

    def _run_segment(self, items: Items, indexes: Sequence[int], answers: list[Answer | None]) -> None:
        # Admitted once: ids the caller left out and the metadata stay the same through every try.
        self._run_admitted(self.admit(items, indexes, answers), answers)

    def _run_admitted(self, batch: list[Admitted], answers: list[Answer | None]) -> None:
        attempts = BATCH_ATTEMPTS if len(batch) > 1 else self.max_attempts
        attempt, look = 1, False
        while batch:
            try:
                decision = self.decide(batch, self.prefetch(batch, look), answers)
                # If this raises, nothing was saved and nothing goes back to the cache: the
                # aggregates were checked out, and dropping them makes the next command load them.
                encoded = self.encode(decision)
                self.write(encoded)
                self.settle(encoded, answers)
                return
            except HeadMoved:
                # Decided on the cache alone, and another writer had saved since: look, then
                # decide again. Not a lost race: nothing of theirs was in the way yet.
                self.resyncs += 1
                self._look_until = time.monotonic() + LOOK_SECONDS
                look = True
            except IntegrityError:
                # Another writer saved one of our streams (or idempotency keys) first: a key now
                # recorded answers its command from the record; the rest decide on fresh state.
                self._conflict()
                look = True
                if attempt >= attempts:
                    break
                time.sleep(random.uniform(0, self.backoff_seconds * 2**attempt))  # noqa: S311
                attempt += 1
                batch = self._not_yet_recorded(batch, answers)
        if len(batch) > 1:
            for admitted in batch:
                self._run_admitted([admitted], answers)
        elif batch:
            answers[batch[0].index] = VersionConflict(
                f"{type(batch[0].command).__name__} lost to concurrent writers {attempts} times; try again"
            )

    # --- decided ahead of the save --------------------------------------------

    def decide_ahead(self, items: Items) -> Ahead | None:
        """Decide a batch on the cache alone and encode it, without saving, so that the writer can
        decide its next batch while this one is written (``write_ahead``, from another thread).

        The aggregates go back into the cache at once, and the next batch goes on from them. If
        the write fails, ``abandon_ahead`` drops the cache, and both batches run again with
        ``run``. None when this batch must run with ``run`` once nothing is being written: the
        writer has to look for other writers' events first, or a key repeats in it."""
        if not self.trusted or self.loader.synced is None or time.monotonic() < self._look_until:
            return None
        runs = segments(items)
        if len(runs) != 1:
            return None
        answers: list[Answer | None] = [None] * len(items)
        batch = self.admit(items, runs[0], answers)
        if not batch:
            return Ahead(answers, None)
        decision = self.decide(batch, self.prefetch(batch), answers)
        encoded = self.encode(decision)
        self.loader.checkin(decision.touched)
        return Ahead(answers, encoded)

    def write_ahead(self, ahead: Ahead) -> None:
        """Save a batch decided ahead, once the one before it is settled; raises as the insert does."""
        if ahead.encoded is not None:
            self.write(ahead.encoded)

    def settle_ahead(self, ahead: Ahead) -> Answers:
        """The answers of a batch decided ahead and written."""
        if ahead.encoded is not None:
            self.settle(ahead.encoded, ahead.answers, checkin=False)
        return answered(ahead.answers)

    def abandon_ahead(self, error: BaseException) -> None:
        """A batch decided ahead was not saved, and the cache holds what it decided (and maybe the
        next batch's decisions on top): nothing there can be trusted, so all of it goes."""
        if isinstance(error, HeadMoved):
            self.resyncs += 1
            self._look_until = time.monotonic() + LOOK_SECONDS
        elif isinstance(error, IntegrityError):
            self._conflict()
        self.loader.forget()

    # --- the phases -------------------------------------------------------------

    def admit(self, items: Items, indexes: Sequence[int], answers: list[Answer | None]) -> list[Admitted]:
        """The commands to decide: repeats answered from their first run, ids generated once."""
        asked = [
            Asked(i, items[i][0], items[i][1], fingerprint(items[i][0]) if items[i][1].idempotency_key else "")
            for i in indexes
        ]
        batch: list[Admitted] = []
        for a in self._not_yet_recorded(asked, answers):
            index, command, ctx, request_hash = a.index, a.command, a.ctx, a.request_hash
            try:
                spec = SPECS[type(command)]
                meta = Meta.at(
                    self.clock(),
                    command.occurred_at,
                    actor=ctx.actor,
                    correlation_id=ctx.correlation_id,
                    causation_id=ctx.causation_id,
                )
                with_ids = command.with_ids(self.new_id)
                new = spec.new_stream
                fresh = [new.stream(with_ids)] if new and getattr(command, new.field) is None else []
                batch.append(Admitted(index, spec, with_ids, ctx, meta, request_hash, fresh))
            except LedgerError as error:
                answers[index] = error
        return batch

    def _not_yet_recorded(self, batch: list[R], answers: list[Answer | None]) -> list[R]:
        """The commands whose idempotency key has no record yet; the others are answered from theirs,
        or refused if their key was used for another command (one query for the batch, whose keys
        differ)."""
        keyed = [(r.ctx.actor, r.ctx.idempotency_key) for r in batch if r.ctx.idempotency_key is not None]
        if not keyed:
            return batch
        stored = self.ledger.store.find_results(keyed)
        left: list[R] = []
        for entry in batch:
            ctx = entry.ctx
            try:
                prior = _prior(ctx, entry.request_hash, stored.get((ctx.actor, ctx.idempotency_key or "")))
            except LedgerError as error:
                answers[entry.index] = error
                continue
            if prior is None:
                left.append(entry)
            else:
                answers[entry.index] = prior
        return left

    def prefetch(self, batch: list[Admitted], look: bool = False) -> Prefetched:
        """Every stream and key the batch will read, loaded before deciding.

        The writer that trusts its cache looks for other writers' events first only when it has
        lately seen some (or is told to ``look``): otherwise the insert checks, under the table
        lock, that the ledger's head is where the cache last saw it."""
        strict = None
        if self.trusted:
            strict = not look and self.loader.synced is not None and time.monotonic() >= self._look_until
            if not strict:
                self.loader.sync()
        uow = UnitOfWork(self.loader, NO_SEALER, trusted=self.trusted, money=self.money)
        uow.known_absent(i for admitted in batch for i in admitted.new_streams)
        # A command's reads depend only on what is loaded under the ids it named (the directory's
        # locations, an order's allocations), so a round asks again only the commands that named
        # a stream the round before loaded.
        named: list[list[UUID]] = [[] for _ in batch]
        loaded: set[UUID] | None = None
        for _ in range(PREFETCH_ROUNDS):
            wanted: list[UUID] = []
            for n, admitted in enumerate(batch):
                if loaded is None or not loaded.isdisjoint(named[n]):
                    named[n] = list(admitted.spec.reads(admitted.command, uow.peek))
                    wanted += named[n]
            loaded = set(uow.prefetch(wanted))
            if not loaded:
                break
        # Keys last: whose they are may depend on what was loaded (the customer of an order).
        customers = [c for a in batch if a.spec.customers for c in a.spec.customers(a.command, uow.peek)]
        uow.sealer = self.ledger.personal_data.sealer(customers)
        return Prefetched(uow, strict)

    def decide(self, batch: list[Admitted], prefetched: Prefetched, answers: list[Answer | None]) -> Decision:
        """Run the commands in order in one unit of work, each all or nothing; nothing is saved."""
        uow = prefetched.uow
        events: list[LedgerAggregate.Event] = []
        decided: list[Decided] = []
        for admitted in batch:
            handled = self._decide_one(admitted, uow, answers)
            if handled is None:
                continue
            events += uow.command_events()
            # The version now: a later command of the batch may change the same aggregate.
            result = CommandResult(handled.id, handled.aggregate.version, None, handled.extra)
            decided.append(Decided(admitted, result, len(events) - 1))
        changed = uow.changed()
        for aggregate in changed:
            aggregate.collect_events()  # the events go in command order, gathered above
        return Decision(events, changed, decided, uow.touched(), prefetched.strict)

    def _decide_one(self, admitted: Admitted, uow: UnitOfWork, answers: list[Answer | None]) -> Handled | None:
        """One command, all or nothing: its answer if it ran, None (and its error answered) if not."""
        for _ in range(MISSES_PER_COMMAND):
            uow.begin()
            try:
                handled = admitted.spec.handler(admitted.command, uow, admitted.meta)
                _check_expected_version(handled, admitted.ctx.expected_version, uow)
                if admitted.ctx.dry_run:  # answered as decided, then undone: nothing is written
                    extra = {**handled.extra, "dry_run": True}
                    answers[admitted.index] = CommandResult(handled.id, handled.aggregate.version, None, extra)
                    uow.rollback()
                    return None
                return handled
            except LedgerError as error:
                uow.rollback()
                answers[admitted.index] = error
                return None
            except Unprefetched as missed:
                uow.rollback()
                self.observer.prefetch_missed(1)
                uow.prefetch([missed.stream])
        raise RuntimeError(f"{type(admitted.command).__name__} kept asking for streams its reads do not name")

    def encode(self, decision: Decision) -> Encoded:
        """The batch's events and due snapshots as stored rows, from the aggregates as decided."""
        to_stored = self.ledger.mapper.to_stored_event
        records = [
            IdempotencyRecord(
                d.admitted.ctx.actor,
                d.admitted.ctx.idempotency_key,
                d.admitted.request_hash,
                d.result.as_dict(),
                d.last_event,
            )
            for d in decision.decided
            if d.admitted.ctx.idempotency_key is not None
        ]
        events = decision.events
        return Encoded(
            decision,
            WriteBatch(
                events=[to_stored(e) for e in events],
                times=[EventTime(e.originator_id, e.originator_version, e.occurred_at, e.timestamp) for e in events],
                idempotency=records,
                snapshots=self._snapshots_due(decision),
            ),
        )

    def _snapshots_due(self, decision: Decision) -> list[StoredEvent]:
        """Snapshots the batch makes due, encoded now: the aggregates may change again before they
        are written, when the writer decides its next batch while this one is saved."""
        intervals = self.ledger.snapshotting_intervals
        changed = {aggregate.id: aggregate for aggregate in decision.changed}
        due = {
            event.originator_id
            for event in decision.events
            if (interval := intervals.get(type(changed.get(event.originator_id))))
            and event.originator_version % interval == 0
        }
        mapper = self.ledger.snapshot_mapper
        if mapper is None:
            return []
        return [mapper.to_stored_event(Snapshot.take(a)) for a in decision.changed if a.id in due]

    def write(self, encoded: Encoded) -> None:
        """Save in one transaction; any thread may do it, while no other batch of this writer is saved.
        Raises IntegrityError (``HeadMoved`` included) when another writer is in the way."""
        decision = encoded.decision
        if decision.strict is not None and (synced := self.loader.synced) is not None:
            encoded.write.head = HeadCheck(synced, decision.strict)  # read under the table lock
        encoded.positions = self.ledger.store.write(encoded.write)

    def settle(self, encoded: Encoded, answers: list[Answer | None], *, checkin: bool = True) -> None:
        """After the save: the loader learns the new head, each command gets its position, and the
        aggregates go back to the cache (those decided ahead went back already)."""
        head, positions = encoded.write.head, encoded.positions
        if positions and head is not None and head.seen is not None:
            if head.seen != head.expected:
                self._look_until = time.monotonic() + LOOK_SECONDS  # someone wrote between our look and our insert
            self.loader.saved(positions, head.seen)
        for decided in encoded.decision.decided:
            result, last = decided.result, decided.last_event
            position = positions[last] if positions and last >= 0 else None
            answers[decided.admitted.index] = CommandResult(result.id, result.version, position, result.extra)
        if checkin:
            self.loader.checkin(encoded.decision.touched)

    def _conflict(self) -> None:
        self.conflicts += 1
        self.observer.conflict()


def _prior(ctx: CommandContext, request_hash: str, stored: StoredResult | None) -> CommandResult | None:
    """The first answer under the command's key, if any; the key used for another command is an error."""
    if stored is None:
        return None
    if not stored.sealed:
        raise IdempotencyRecordUntrusted(
            f"the stored record of Idempotency-Key {ctx.idempotency_key!r} failed its integrity check; "
            "the command was not run again"
        )
    if stored.request_hash != request_hash:
        raise IdempotencyKeyReused(f"Idempotency-Key {ctx.idempotency_key!r} was used for another command")
    return CommandResult.from_stored(stored.result)


def _check_expected_version(handled: Handled, expected: int | None, uow: UnitOfWork) -> None:
    if expected is None:
        return
    before = uow.version_before(handled.aggregate)  # before this command, in a batch too
    if before != expected:
        raise StaleVersion(f"{handled.id} is at version {before}, not {expected}", expected=expected, actual=before)
