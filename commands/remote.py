"""HTTP worker processes hand their commands to the serving process's one writer.

One Python process runs one thread at a time, so a single process shares one core
between answering HTTP and deciding commands. With more than one HTTP worker, the
HTTP work runs in worker processes, and each command crosses a local socket to the
process that holds the writer: still one writer, one aggregate cache and one
transaction per group, so every guarantee of group commit holds unchanged.

The socket carries pickles, so both ends prove they hold the same secret key
(``multiprocessing.connection``'s challenge) before anything is read.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import pickle
import socket
import threading
from concurrent.futures import Future
from contextlib import suppress
from functools import partial
from multiprocessing import AuthenticationError
from multiprocessing.connection import (
    Client,
    Connection,
    answer_challenge,
    deliver_challenge,
)
from typing import Any

import psycopg
from eventsourcing.persistence import OperationalError, PersistenceError

from commands import messages as m
from commands.contracts import Answers, CommandContext, CommandResult, Items, Stopped, Writer
from domain.errors import LedgerError

log = logging.getLogger(__name__)

# Lists of (request id, commands) one way; of (request id, True, answers) or (request id, False, error) back.
Request = tuple[int, list[tuple[m.Command, CommandContext]]]
Answer = tuple[int, bool, Any]


class WriterServer:
    """Takes commands from HTTP worker processes on a Unix socket and runs them through ``writer``."""

    def __init__(self, writer: Writer, address: str, authkey: bytes) -> None:
        self.writer = writer
        self.address = address
        self.authkey = authkey
        self._socket: socket.socket | None = None
        self._peers: list[socket.socket] = []
        self._closed = threading.Event()

    def start(self) -> None:
        listening = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listening.bind(self.address)
        os.chmod(self.address, 0o600)
        listening.listen()
        # Polling lets close() end the accept loop: closing a socket does not wake a blocked accept.
        listening.settimeout(0.5)
        self._socket = listening
        threading.Thread(target=self._accept, args=(listening,), name="writer-server", daemon=True).start()

    def close(self) -> None:
        self._closed.set()
        for peer in [*self._peers, *([self._socket] if self._socket else [])]:
            _hang_up(peer)
        with suppress(FileNotFoundError):
            os.unlink(self.address)

    def _accept(self, listening: socket.socket) -> None:
        while not self._closed.is_set():
            try:
                peer, _ = listening.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed
            peer.settimeout(None)
            self._peers.append(peer)
            # The handshake happens in the peer's own thread: one that never answers holds up no one.
            threading.Thread(target=self._serve, args=(peer,), name="writer-peer", daemon=True).start()

    def _serve(self, peer: socket.socket) -> None:
        try:
            with Connection(os.dup(peer.fileno())) as conn:
                try:
                    deliver_challenge(conn, self.authkey)
                    answer_challenge(conn, self.authkey)
                except (AuthenticationError, EOFError, OSError) as error:
                    log.warning("refused a connection to the writer: %s", error)
                    return
                self._take_requests(conn)
        finally:
            with suppress(ValueError):
                self._peers.remove(peer)
            peer.close()

    def _take_requests(self, conn: Connection) -> None:
        """Until the worker process hangs up."""
        lock = threading.Lock()
        while True:
            try:
                requests: list[Request] = conn.recv()
            except (EOFError, OSError):
                return
            # What a worker sent together goes to the writer together and comes back in one
            # message: one wake-up of each process per group, not per command.
            items = [item for _, request_items in requests for item in request_items]
            try:
                answer = self.writer.enqueue(items)
            except Stopped as error:
                _send(conn, lock, [(request_id, False, error) for request_id, _ in requests])
                continue
            # The callback runs in the writer's thread, as soon as the group is saved.
            answer.add_done_callback(partial(_reply, conn, lock, requests))


class RemoteWriter(Writer):
    """The writer as an HTTP worker process sees it: a connection to the serving process.

    Commands submitted from the event loop in one pass of it leave in one message, and the
    answers that come back together are handed to the loop in one call."""

    def __init__(self, address: str, authkey: bytes) -> None:
        self._conn = Client(address, family="AF_UNIX", authkey=authkey)
        self._lock = threading.Lock()
        self._pending: dict[int, _Waiter] = {}
        self._outboxes: dict[asyncio.AbstractEventLoop, list[Request]] = {}  # each touched by its loop only
        self._ids = itertools.count()
        self._gone = False
        self._reader = threading.Thread(target=self._read, name="writer-client", daemon=True)
        self._reader.start()

    @property
    def alive(self) -> bool:
        return not self._gone

    def enqueue(self, items: Items) -> Future[Answers]:
        answer: Future[Answers] = Future()
        request = self._request(items, answer)
        try:
            self._send([request])
        except Stopped:
            self._forget([request])
            raise
        return answer

    async def submit(self, command: m.Command, ctx: CommandContext | None = None) -> CommandResult:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Answers] = loop.create_future()
        request = self._request([(command, ctx or CommandContext())], answer)
        outbox = self._outboxes.setdefault(loop, [])
        if not outbox:
            loop.call_soon(self._flush, loop)  # after the other requests this pass of the loop has read
        outbox.append(request)
        (outcome,) = await answer
        if isinstance(outcome, LedgerError):
            raise outcome
        return outcome

    def stop(self, timeout: float = 30) -> None:
        _hang_up(socket.socket(fileno=os.dup(self._conn.fileno())))
        self._reader.join(timeout)
        self._conn.close()

    def _request(self, items: Items, answer: _Waiter) -> Request:
        with self._lock:
            if self._gone:
                raise Stopped("the ledger's writer has gone away")
            request_id = next(self._ids)
            self._pending[request_id] = answer
        return request_id, list(items)

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        outbox = self._outboxes.pop(loop, [])
        try:
            self._send(outbox)
        except Stopped as error:
            for waiter in self._forget(outbox):
                _resolve(waiter, False, error)

    def _send(self, requests: list[Request]) -> None:
        try:
            with self._lock:
                self._conn.send(requests)
        except OSError as error:
            raise Stopped(f"the ledger's writer has gone away: {error}") from error

    def _forget(self, requests: list[Request]) -> list[_Waiter]:
        with self._lock:
            return [w for request_id, _ in requests if (w := self._pending.pop(request_id, None)) is not None]

    def _read(self) -> None:
        while True:
            try:
                answers: list[Answer] = self._conn.recv()
            except (EOFError, OSError):
                break
            except Exception:  # an answer that cannot be read: nobody can be told which, so all are
                log.exception("an answer from the writer could not be read; dropping the connection")
                break
            with self._lock:
                # None for a request already given up on (its send failed): no one to tell.
                found = [(self._pending.pop(request_id, None), ok, payload) for request_id, ok, payload in answers]
            waiting = [(waiter, ok, payload) for waiter, ok, payload in found if waiter is not None]
            on_loops: dict[asyncio.AbstractEventLoop, list[tuple[_Waiter, bool, Any]]] = {}
            for waiter, ok, payload in waiting:
                if isinstance(waiter, asyncio.Future):
                    on_loops.setdefault(waiter.get_loop(), []).append((waiter, ok, payload))
                else:
                    _resolve(waiter, ok, payload)
            for loop, settled in on_loops.items():
                with suppress(RuntimeError):  # the loop has closed: nobody is waiting
                    loop.call_soon_threadsafe(_resolve_all, settled)
        with self._lock:
            self._gone = True
            waiting_for_ever, self._pending = list(self._pending.values()), {}
        gone = Stopped("the ledger's writer has gone away")
        for waiter in waiting_for_ever:
            if isinstance(waiter, asyncio.Future):
                with suppress(RuntimeError):
                    waiter.get_loop().call_soon_threadsafe(_resolve, waiter, False, gone)
            else:
                _resolve(waiter, False, gone)


_Waiter = Future[Answers] | asyncio.Future[Answers]


def _resolve(waiter: _Waiter, ok: bool, payload: Any) -> None:
    if waiter.done():  # an awaiting request was cancelled (its client went away)
        return
    if ok:
        waiter.set_result(payload)
    else:
        waiter.set_exception(payload)


def _resolve_all(settled: list[tuple[_Waiter, bool, Any]]) -> None:
    for waiter, ok, payload in settled:
        _resolve(waiter, ok, payload)


def _reply(conn: Connection, lock: threading.Lock, requests: list[Request], answer: Future[Answers]) -> None:
    error = answer.exception()
    if error is not None:
        portable = _portable(error)
        _send(conn, lock, [(request_id, False, portable) for request_id, _ in requests])
        return
    results, start, answers = answer.result(), 0, []
    for request_id, items in requests:
        answers.append((request_id, True, results[start : start + len(items)]))
        start += len(items)
    _send(conn, lock, answers)


def _send(conn: Connection, lock: threading.Lock, answers: list[Answer]) -> None:
    try:
        data = pickle.dumps(answers, pickle.HIGHEST_PROTOCOL)
    except Exception as error:  # an answer that cannot travel still must arrive
        log.exception("answers of the writer could not be sent as they were")
        failed = RuntimeError(f"the writer's answer could not be sent: {error}")
        data = pickle.dumps([(request_id, False, failed) for request_id, _, _ in answers])
    with lock, suppress(OSError):  # the worker process has gone: nobody is waiting
        conn.send_bytes(data)


def _portable(error: BaseException) -> BaseException:
    """The error as the worker process can rebuild it, and the API map it, as if it were local."""
    if isinstance(error, LedgerError | Stopped):
        return error
    if isinstance(error, PersistenceError | psycopg.Error):
        return OperationalError(str(error))
    return RuntimeError(f"the writer failed: {error}")


def _hang_up(sock: socket.socket) -> None:
    """End the socket for every thread using it: a blocked read or accept returns at once."""
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
