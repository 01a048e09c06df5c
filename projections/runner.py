"""Runs one projection: reads the ledger after its position, in batches, exactly once.

Each batch's table changes and the new position commit in one transaction, so a
crash anywhere leaves the tables and the position agreeing, and a restart resumes
there. One advisory lock per projection keeps two workers off the same one. The
runner wakes on the event store's NOTIFY and also polls, in case a notification is
missed.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import Mapper
from psycopg import sql
from psycopg.rows import dict_row

from commands.eventstore.names import CHANNEL, EVENTS, LEDGER_SCHEMA, READ_SCHEMA
from projections.base import Projection, Tables
from projections.events import decode

log = logging.getLogger(__name__)

POSITIONS = sql.Identifier(READ_SCHEMA, "projection_positions")
# Shared by every consumer that follows the ledger (projections, webhooks, emails).
SELECT_EVENTS = sql.SQL(
    "SELECT notification_id, originator_id, originator_version, topic, state FROM {}"
    " WHERE notification_id > %s AND notification_id <= %s ORDER BY notification_id LIMIT %s"
).format(sql.Identifier(LEDGER_SCHEMA, EVENTS))
LAST = 2**63 - 1  # the largest bigint: no upper bound
_READ_POSITION = sql.SQL("SELECT position FROM {} WHERE name = %s FOR UPDATE").format(POSITIONS)
WRITE_POSITION = sql.SQL(
    "INSERT INTO {} (name, position, updated_at) VALUES (%s, %s, now())"
    " ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position, updated_at = now()"
).format(POSITIONS)


def lock_key(name: str) -> int:
    """A stable 64-bit advisory lock key for a projection name."""
    return int.from_bytes(hashlib.sha256(f"projection:{name}".encode()).digest()[:8], "big", signed=True)


class Busy(Exception):
    """Another worker holds this projection's lock."""


@dataclass
class ProjectionRunner:
    projection: Projection
    url: str
    mapper: Mapper[UUID]
    batch_size: int = 10_000
    poll_seconds: float = 1.0
    suffix: str = ""
    # Called after each committed batch with (events, new position); for progress and tests.
    on_batch: Callable[[int, int], None] | None = None

    @property
    def position_name(self) -> str:
        return self.projection.name + self.suffix

    @property
    def tables(self) -> Tables:
        return Tables(self.projection.tables, self.suffix)

    def run_until_caught_up(self) -> int:
        """Process every event recorded so far; returns how many."""
        with self._locked():
            return self._catch_up()

    def run_forever(self, stop: threading.Event) -> None:
        """Follow the ledger until ``stop`` is set, waiting for the lock if another worker holds it."""
        while not stop.is_set():
            try:
                with self._locked(), psycopg.connect(self.url, autocommit=True) as listener:
                    listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
                    while not stop.is_set():
                        self._catch_up()
                        for _ in listener.notifies(timeout=self.poll_seconds, stop_after=1):
                            pass
            except Busy:
                stop.wait(self.poll_seconds)
            except psycopg.OperationalError as error:
                log.warning("projection %s lost its database connection: %s", self.position_name, error)
                stop.wait(self.poll_seconds)

    def process_batch(self, conn: psycopg.Connection[Any], upto: int = LAST) -> int:
        """Apply the next batch (up to position ``upto``) in one transaction; returns how many events it held."""
        with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(_READ_POSITION, (self.position_name,)).fetchone()
            position = row["position"] if row else 0
            rows = cur.execute(SELECT_EVENTS, (position, upto, self.batch_size)).fetchall()
            if not rows:
                return 0
            batch = decode(self.mapper, rows)
            self.projection.apply(cur, batch, self.tables)
            cur.execute(WRITE_POSITION, (self.position_name, batch[-1].position))
        if self.on_batch is not None:
            self.on_batch(len(batch), batch[-1].position)
        return len(batch)

    def _catch_up(self) -> int:
        total = 0
        with psycopg.connect(self.url) as conn:
            while processed := self.process_batch(conn):
                total += processed
        return total

    def _locked(self) -> AdvisoryLock:
        return AdvisoryLock(self.url, lock_key(self.position_name))


class AdvisoryLock:
    def __init__(self, url: str, key: int) -> None:
        self.url, self.key = url, key
        self.conn: psycopg.Connection[Any] | None = None

    def __enter__(self) -> AdvisoryLock:
        self.conn = psycopg.connect(self.url, autocommit=True)
        row = self.conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
        if not row or not row[0]:
            self.conn.close()
            raise Busy(f"another worker holds projection lock {self.key}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.conn is not None:
            self.conn.close()  # closing the session releases the lock


def wait_for(check: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True
