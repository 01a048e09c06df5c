"""What the event store relies on in the eventsourcing library, checked against the library itself.

The store writes batches with its own SQL (``commands.eventstore.postgres``), so it must take the
lock the library's insert takes, notify the channel the library's subscribers listen on, and
write rows the library reads back as it reads its own. If a new version of the library changes
any of that, these fail before a ledger is written wrongly."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from eventsourcing.persistence import StoredEvent

from commands.eventstore import library
from commands.eventstore.batch import WriteBatch
from commands.eventstore.names import CHANNEL, EVENTS, LEDGER_SCHEMA
from commands.eventstore.postgres import PostgresEventStore
from commands.ledger import Ledger

pytestmark = pytest.mark.postgres


def store_of(ledger: Ledger) -> PostgresEventStore:
    assert isinstance(ledger.store, PostgresEventStore)
    return ledger.store


def test_the_store_takes_the_library_table_lock_in_exclusive_mode(pg_ledger: Ledger) -> None:
    store = store_of(pg_ledger)
    with store.datastore.get_connection() as conn:
        rendered = [
            s.as_string(conn) if hasattr(s, "as_string") else str(s) for s in library.lock_statements(store.recorder)
        ]
    assert rendered[-1] == f'LOCK TABLE "{LEDGER_SCHEMA}"."{EVENTS}" IN EXCLUSIVE MODE'
    assert any("lock_timeout" in statement for statement in rendered)


def test_a_write_notifies_the_channel_the_library_listens_on(pg_ledger: Ledger, pg_url: str) -> None:
    store = store_of(pg_ledger)
    assert store.recorder.channel_name == CHANNEL
    with psycopg.connect(pg_url, autocommit=True) as listener:
        listener.execute(f"LISTEN {CHANNEL}")
        store.write(WriteBatch([StoredEvent(uuid.uuid4(), 1, "tests:Probe", b"{}")]))
        heard = [n.channel for n in listener.notifies(timeout=5, stop_after=1)]
    assert heard == [CHANNEL]


def test_the_library_and_the_store_read_each_others_rows_alike(pg_ledger: Ledger) -> None:
    store, recorder = store_of(pg_ledger), pg_ledger.recorder
    ours, theirs = uuid.uuid4(), uuid.uuid4()
    written = store.write(WriteBatch([StoredEvent(ours, v, "tests:Ours", b'{"n":%d}' % v) for v in (1, 2)]))
    recorder.insert_events([StoredEvent(theirs, v, "tests:Theirs", b'{"n":%d}' % v) for v in (1, 2)])
    as_library_reads = [(e.originator_id, e.originator_version, e.topic, e.state) for e in recorder.select_events(ours)]
    assert as_library_reads == [(ours, 1, "tests:Ours", b'{"n":1}'), (ours, 2, "tests:Ours", b'{"n":2}')]
    notifications = recorder.select_notifications(start=written[0], limit=10)
    assert [n.id for n in notifications][:2] == written
    as_store_reads = [(e.originator_id, e.originator_version, e.state) for e in store.events_after({theirs: 0})]
    assert as_store_reads == [(theirs, 1, b'{"n":1}'), (theirs, 2, b'{"n":2}')]
    head, _ = store.changed_since(None)
    assert head == recorder.max_notification_id()
