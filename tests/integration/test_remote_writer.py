"""HTTP worker processes' commands reach the serving process's one writer over a local socket."""

from __future__ import annotations

import asyncio
import secrets
import socket
import threading
from collections.abc import Iterator
from decimal import Decimal
from multiprocessing import AuthenticationError
from pathlib import Path

import pytest

from commands import messages as m
from commands.contracts import CommandContext
from commands.group_commit import Stopped
from commands.ledger import Ledger
from commands.remote import RemoteWriter, WriterServer
from domain.errors import InsufficientStock, LedgerError, StaleVersion
from domain.payments import PaymentKind
from tests.helpers import item, receive, register
from tests.integration.test_group_commit import order, through_a_writer

pytestmark = pytest.mark.postgres

KEY = secrets.token_bytes(32)


@pytest.fixture
def server(pg_ledger: Ledger, tmp_path: Path) -> Iterator[WriterServer]:
    register(pg_ledger, "main")
    receive(pg_ledger, "A", "main", 25)
    with through_a_writer(pg_ledger) as writer:
        serving = WriterServer(writer, str(tmp_path / "writer.sock"), KEY)
        serving.start()
        try:
            yield serving
        finally:
            serving.close()


def test_two_worker_processes_racing_for_stock_sell_exactly_what_there_is(
    server: WriterServer, pg_ledger: Ledger
) -> None:
    workers = [RemoteWriter(server.address, KEY), RemoteWriter(server.address, KEY)]

    async def orders_of(worker: RemoteWriter, first: int) -> list[object]:
        # As an HTTP worker submits them: from one event loop, many in flight at once.
        calls = [worker.submit(*order(f"o{n}", 1)) for n in range(first, first + 20)]
        return await asyncio.gather(*calls, return_exceptions=True)

    results: list[object] = []
    threads = [
        threading.Thread(target=lambda w=w, i=i: results.extend(asyncio.run(orders_of(w, 20 * i))))
        for i, w in enumerate(workers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for worker in workers:
        worker.stop()

    placed = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(placed) == 25
    assert len({r.position for r in placed}) == 25  # type: ignore[attr-defined]
    # The rule's error arrives whole: its class, code and details, as if raised here.
    assert len(refused) == 15
    assert all(isinstance(e, InsufficientStock) and e.skus == ["A"] for e in refused)
    assert item(pg_ledger, "A", "main").committed == 25


def test_a_batch_from_a_worker_keeps_its_order_and_each_command_its_own_answer(server: WriterServer) -> None:
    worker = RemoteWriter(server.address, KEY)
    try:
        first, stale = worker.execute_many([order("b1", 1), order("b2", 30)])
        assert not isinstance(first, LedgerError) and first.id == "b1"
        assert isinstance(stale, InsufficientStock)
        payment = m.RecordPayment(order_id="b1", kind=PaymentKind.AUTHORIZATION, amount=Decimal(1))
        with pytest.raises(StaleVersion) as raised:
            worker.execute(payment, CommandContext(actor="integrator:t", expected_version=7))
        assert raised.value.extra == {"expected": 7, "actual": 1}
    finally:
        worker.stop()


def test_a_worker_without_the_secret_is_refused(server: WriterServer) -> None:
    with pytest.raises(AuthenticationError):
        RemoteWriter(server.address, secrets.token_bytes(32))


def test_a_connection_that_never_answers_the_challenge_holds_up_no_other(server: WriterServer) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as silent:
        silent.connect(server.address)
        connected: list[RemoteWriter] = []
        connecting = threading.Thread(target=lambda: connected.append(RemoteWriter(server.address, KEY)), daemon=True)
        connecting.start()
        connecting.join(10)
        assert connected, "the next connection waited behind the silent one"
        try:
            assert not isinstance(connected[0].execute_many([order("s1", 1)])[0], LedgerError)
        finally:
            connected[0].stop()


def test_when_the_writer_goes_away_workers_hear_it_instead_of_waiting(server: WriterServer) -> None:
    worker = RemoteWriter(server.address, KEY)
    try:
        assert not isinstance(worker.execute_many([order("g1", 1)])[0], LedgerError)
        server.close()
        with pytest.raises(Stopped):
            worker.execute_many([order("g2", 1)])
    finally:
        worker.stop()
