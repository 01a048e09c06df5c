"""The webhook worker: the dispatcher and the sender, in ``oms serve`` or ``oms webhooks work``.

One worker at a time holds the webhooks' advisory lock; another (a second ``oms webhooks work``,
or ``oms serve`` beside one) waits for it, so no delivery is sent twice by two workers. The
dispatcher runs in a thread of its own and wakes on the event store's NOTIFY; the sender runs
an asyncio loop, so a slow receiver holds a task, never a thread or a command.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from uuid import UUID

import psycopg
from eventsourcing.persistence import Mapper
from psycopg import sql

from api.webhooks.deliver import Observer, Policy, Sender
from api.webhooks.dispatch import Dispatcher
from commands.eventstore.names import CHANNEL
from commands.ledger import Ledger
from projections.runner import AdvisoryLock, Busy, lock_key

log = logging.getLogger(__name__)
LOCK = "webhooks"

# The dispatcher looks at the ledger at most this often. The event store notifies every commit,
# hundreds a second under load, and a look per notification (a transaction even with no
# subscription) cost placing orders 7 to 10% of their throughput over HTTP; a look every 50 ms
# covers every commit since the last, for 50 ms more latency at most.
DISPATCH_INTERVAL = 0.05


class WebhookWorker:
    def __init__(
        self,
        url: str,
        ledger: Ledger,
        mapper: Mapper[UUID],
        policy: Policy,
        *,
        observer: Observer | None = None,
        batch_size: int = 1000,
        poll_seconds: float = 0.5,
        dispatch_interval: float = DISPATCH_INTERVAL,
    ) -> None:
        self.url = url
        self.dispatcher = Dispatcher(ledger, mapper, batch_size=batch_size)
        self.sender = Sender(url, policy, observer)
        self.poll_seconds = poll_seconds
        self.dispatch_interval = dispatch_interval

    def run_forever(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                with AdvisoryLock(self.url, lock_key(LOCK)):
                    log.info("webhook worker started")
                    dispatching = threading.Thread(target=self.dispatch_forever, args=(stop,), name="webhook-dispatch")
                    dispatching.start()
                    try:
                        asyncio.run(self.sender.run(stop))
                    finally:
                        dispatching.join()
            except Busy:
                stop.wait(self.poll_seconds)
            except psycopg.OperationalError as error:
                log.warning("webhook worker lost its database connection: %s", error)
                stop.wait(self.poll_seconds)

    def dispatch_forever(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                with psycopg.connect(self.url) as conn, psycopg.connect(self.url, autocommit=True) as listener:
                    listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))
                    while not stop.is_set():
                        while self.dispatcher.run_once(conn) and not stop.is_set():
                            pass
                        for _ in listener.notifies(timeout=self.poll_seconds, stop_after=1):
                            pass
                        stop.wait(self.dispatch_interval)  # the commits of the moment, in one look
                        for _ in listener.notifies(timeout=0):  # those the look will find
                            pass
            except psycopg.OperationalError as error:
                log.warning("webhook dispatcher lost its database connection: %s", error)
                stop.wait(self.poll_seconds)
            except Exception:  # a defect must not end webhooks for good: say so, and try again
                log.exception("webhook dispatcher failed; trying again")
                stop.wait(5 * self.poll_seconds)
