"""The composition root: builds everything the service needs from settings."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from psycopg_pool import ConnectionPool

from api import outbound
from api.checkpointing import Checkpointer
from api.database import Database, ledger_env, open_database, read_pool, reconnect_quickly
from api.keys import KeyStore
from api.metrics import Metrics
from api.notifications.notifier import Notifier
from api.settings import Settings
from api.upgrade import upgrade
from api.webhooks import child
from api.webhooks.worker import WebhookWorker
from commands.contracts import Writer
from commands.group_commit import GroupCommitter, InlineWriter
from commands.ledger import Ledger
from commands.pipeline import Pipeline
from commands.remote import RemoteWriter
from commands.seals import Seals
from commands.signing import LedgerKey
from projections.base import Projection
from projections.events import make_mapper
from projections.registry import all_projections
from projections.runner import ProjectionRunner

log = logging.getLogger(__name__)


@dataclass
class Container:
    settings: Settings
    database: Database
    ledger: Ledger
    writer: Writer
    pool: ConnectionPool
    keys: KeyStore
    metrics: Metrics
    projections: dict[str, Projection] = field(default_factory=dict)
    key: LedgerKey | None = None
    seals: Seals = field(default_factory=Seals)
    # A hot standby's pool for the query routes (``OMS_READ_DATABASE_URL``), if there is one.
    replica: ConnectionPool | None = None
    _closed: bool = field(default=False, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _workers: list[threading.Thread] = field(default_factory=list, repr=False)

    @property
    def reads(self) -> ConnectionPool:
        """Where the query routes read: the standby if one is set, else the primary."""
        return self.replica or self.pool

    @property
    def read_url(self) -> str:
        return self.settings.read_database_url or self.database.url

    def projection_names(self) -> list[str]:
        return list(self.projections)

    def runner(self, name: str) -> ProjectionRunner:
        return ProjectionRunner(
            self.projections[name], self.database.url, make_mapper(), batch_size=self.settings.projection_batch_size
        )

    def start_projections(self, names: list[str] | None = None) -> None:
        """Follow the ledger with each projection in a thread of this process."""
        for name in names or self.projection_names():
            self._thread(f"projection-{name}", self.runner(name).run_forever)

    def start_checkpoints(self) -> bool:
        """Sign a checkpoint every ``checkpoint_seconds`` in a thread of this process, when the
        ledger grew (``api.checkpointing``); False if they are off or there is no key."""
        if self.settings.checkpoint_seconds <= 0 or self.key is None:
            return False
        checkpointer = Checkpointer(self.pool, self.key, self.seals, self.metrics, self.settings.checkpoint_dir)
        seconds = self.settings.checkpoint_seconds
        self._thread("checkpoints", lambda stop: checkpointer.run_forever(stop, seconds))
        return True

    def _thread(self, name: str, target: Callable[[threading.Event], None]) -> None:
        """Run ``target(stop)`` in a daemon thread of this process, joined by ``close``."""
        worker = threading.Thread(target=target, args=(self._stop,), name=name, daemon=True)
        worker.start()
        self._workers.append(worker)

    def webhook_worker(self) -> WebhookWorker:
        return outbound.webhook_worker(self.settings, self.database.url, self.ledger, self.metrics)

    def notifier(self) -> Notifier | None:
        """The customer emails' notifier, or None when no SMTP server is set (``OMS_SMTP_URL``)."""
        return outbound.notifier(self.settings, self.database.url, self.ledger, self.metrics)

    def start_webhooks(self) -> None:
        """Deliver webhooks from a niced child process (``api.webhooks.child``), supervised by a
        thread of this one; it waits while another worker holds the webhooks' lock."""
        url = self.database.url
        self._thread("webhooks", lambda stop: child.supervise(url, stop))

    def start_notifications(self) -> bool:
        """Email customers from a thread of this process; False when no SMTP server is set."""
        notifier = self.notifier()
        if notifier is None:
            return False
        self._thread("notifications", notifier.run_forever)
        return True

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._stop.set()
            for worker in self._workers:
                worker.join(timeout=10)
            self.writer.stop()
            self.ledger.close()
            self.pool.close()
            if self.replica is not None:
                self.replica.close()
            self.database.close()


def build(settings: Settings, *, run_upgrade: bool = True) -> Container:
    reconnect_quickly()
    database = open_database(settings)
    try:
        if run_upgrade:
            upgrade(database.url)
        key = settings.ledger_key()
        if key is None:
            log.warning("no ledger key (OMS_SIGNING_KEY): stored rows get unkeyed digests, and no checkpoint is signed")
        seals = Seals(key.seal_key() if key is not None else None)
        env = ledger_env(database.url, pool_size=settings.pool_size, reconnect_seconds=settings.reconnect_seconds)
        ledger = Ledger(env=env, seals=seals)
        # Keys, admin routes and queries share one small pool, apart from the event store's;
        # queries have the standby's own when there is one.
        pool = read_pool(database.url, settings.pool_size)
        replica = read_pool(settings.read_database_url, settings.pool_size) if settings.read_database_url else None
    except BaseException:
        database.close()
        raise
    metrics = Metrics()
    ledger.store.on_rejected = metrics.row_rejected
    ledger.store.on_lost_connection = metrics.write_connection_lost
    ledger.store.on_written = metrics.batch_written
    try:
        writer = _writer(settings, ledger, metrics)
    except BaseException:
        ledger.close()
        pool.close()
        if replica is not None:
            replica.close()
        database.close()
        raise
    return Container(
        settings,
        database,
        ledger,
        writer,
        pool,
        KeyStore(pool, settings.key_cache_seconds),
        metrics,
        all_projections(make_mapper()),
        key,
        seals,
        replica,
    )


def _writer(settings: Settings, ledger: Ledger, metrics: Metrics) -> Writer:
    """Where this process's commands go: the serving process's one writer (in an HTTP worker
    process), its own group committer, or, with group commit off, each caller's own thread."""
    if settings.writer_socket is not None:
        return RemoteWriter(settings.writer_socket, bytes.fromhex(settings.writer_key or ""))
    money = settings.money_policy()
    if not settings.group_commit:
        return InlineWriter(Pipeline(ledger, observer=metrics, max_attempts=settings.command_attempts, money=money))
    pipeline = Pipeline(ledger, trusted=True, observer=metrics, max_attempts=settings.command_attempts, money=money)
    committer = GroupCommitter(pipeline, settings.group_commit_max, settings.reconnect_seconds)
    committer.start()
    return committer
