"""The Ledger: the eventsourcing application that holds the event store.

It builds the mapper, the library's recorders and the composed event store from its
environment, and answers as-of reads. Commands do not run here: they go through a writer,
which owns the one command pipeline (``commands.pipeline``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import ApplicationRecorder, JSONTranscoder, Mapper, Transcoder
from eventsourcing.postgres import PostgresAggregateRecorder, PostgresApplicationRecorder, PostgresFactory
from eventsourcing.utils import EnvType

from commands import fast_events
from commands.customer_keys import PostgresCustomerKeys
from commands.eventstore import library
from commands.eventstore.memory import MemoryEventStore
from commands.eventstore.names import APPLICATION_NAME
from commands.eventstore.postgres import RECONNECT_SECONDS, PostgresEventStore
from commands.loader import EventStore
from commands.personal_data import MemoryCustomerKeys, PersonalData
from commands.seals import Seals
from commands.transcoder import LedgerMapper, LedgerTranscoder, register_domain_transcodings
from domain.base import LedgerAggregate
from domain.orders import Order
from domain.stock import StockItem

# How long a write that lost its connection is tried again (seconds; the event store's default).
RECONNECT_ENV = "LEDGER_RECONNECT_SECONDS"


class Ledger(Application[UUID]):
    name = APPLICATION_NAME
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {StockItem: 100, Order: 50}

    def __init__(self, env: EnvType | None = None, seals: Seals | None = None) -> None:
        """``seals``: how stored rows are sealed and checked (unkeyed digests if not given)."""
        fast_events.install()
        super().__init__(env)
        recorder = self.recorder
        snapshots = self.snapshots.recorder if self.snapshots is not None else None
        self.store: EventStore
        if isinstance(recorder, PostgresApplicationRecorder):
            assert snapshots is None or isinstance(snapshots, PostgresAggregateRecorder)
            reconnect = float(self.env.get(RECONNECT_ENV) or RECONNECT_SECONDS)
            self.store = PostgresEventStore(recorder, snapshots, seals, reconnect_seconds=reconnect)
            self.personal_data = PersonalData(PostgresCustomerKeys(recorder.datastore))
        else:
            self.store = MemoryEventStore(recorder, snapshots)
            self.personal_data = PersonalData(MemoryCustomerKeys())
        # None: snapshots are off (IS_SNAPSHOTTING_ENABLED=n), and every load folds every event.
        self.snapshot_mapper = self.snapshots.mapper if self.snapshots is not None else None

    def construct_recorder(self) -> ApplicationRecorder:
        if isinstance(self.factory, PostgresFactory):
            # Before the library's recorder opens the pool: every pooled connection gets it.
            library.connect_as(self.factory.datastore, self.env.get(library.CONNINFO))
            library.without_jit(self.factory.datastore)
        return super().construct_recorder()

    def construct_mapper(self) -> Mapper[UUID]:
        return self.factory.mapper(transcoder=self.construct_transcoder(), mapper_class=LedgerMapper)

    def construct_transcoder(self) -> Transcoder:
        transcoder = LedgerTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_domain_transcodings(transcoder)

    def as_of(self, stream_id: UUID, moment: datetime, time: str = "business") -> LedgerAggregate | None:
        """The aggregate as it stood at ``moment``: after its last event with business (or recorded)
        time at or before then, folded in ledger order. None if it had no event by then."""
        field = "occurred_at" if time == "business" else "recorded_at"
        snapshot, events = self.store.as_of(stream_id, field, moment)
        state: Any = self.mapper.to_domain_event(snapshot).mutate(None) if snapshot else None  # type: ignore[attr-defined]
        for stored in events:
            state = self.mapper.to_domain_event(stored).mutate(state)  # type: ignore[attr-defined]
        return state if isinstance(state, LedgerAggregate) else None
