"""The webhook dispatcher looks at the ledger at most once a ``dispatch_interval``, however many
commits notify it: a look per commit cost placing orders 7 to 10% of their throughput."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from psycopg import sql

from api.webhooks.deliver import Policy
from api.webhooks.worker import WebhookWorker
from commands.eventstore.names import CHANNEL
from commands.ledger import Ledger
from projections.events import make_mapper

pytestmark = pytest.mark.postgres


def test_a_burst_of_commits_costs_the_dispatcher_one_look_an_interval(pg_ledger: Ledger, pg_url: str) -> None:
    worker = WebhookWorker(pg_url, pg_ledger, make_mapper(), Policy(), poll_seconds=5, dispatch_interval=0.2)
    looks: list[float] = []
    run_once = worker.dispatcher.run_once

    def counted(conn: psycopg.Connection[object]) -> int:
        looks.append(time.monotonic())
        return run_once(conn)

    worker.dispatcher.run_once = counted  # type: ignore[method-assign]
    stop = threading.Event()
    dispatching = threading.Thread(target=worker.dispatch_forever, args=(stop,), daemon=True)
    dispatching.start()
    try:
        deadline = time.monotonic() + 10
        while not looks and time.monotonic() < deadline:  # listening, and has looked once
            time.sleep(0.01)
        with psycopg.connect(pg_url, autocommit=True) as conn:
            started = time.monotonic()
            for _ in range(60):  # 60 commits in about 0.6 s
                conn.execute(sql.SQL("NOTIFY {}").format(sql.Identifier(CHANNEL)))
                time.sleep(0.01)
            time.sleep(0.5)
    finally:
        stop.set()
        dispatching.join(10)
    during = [t for t in looks if t >= started]
    assert 1 <= len(during) <= 8, len(during)  # about one per 0.2 s over 1.1 s, not one per commit
