"""The sender: posts pending deliveries, signed by the Standard Webhooks scheme, and logs each attempt.

Each subscription is served apart from the others, and within one, each stream (an order, a
stock item) in ledger order: a stream's next delivery goes only once the one before it was
delivered or given up on, so a failing delivery holds back its own stream and nothing else. Up
to ``concurrency`` streams of a subscription are in flight at once. A failed attempt is tried
again after an exponential backoff with jitter; after ``max_attempts`` the delivery is dead
(and its stream goes on). Delivery is at least once: a crash between a receiver's answer and
its record sends that delivery again, with the same ``webhook-id``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import socket
import threading
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Protocol
from uuid import UUID

import aiohttp
import psycopg
from aiohttp.abc import AbstractResolver
from aiohttp.resolver import ThreadedResolver
from psycopg import sql
from psycopg.rows import class_row, dict_row
from psycopg_pool import AsyncConnectionPool
from standardwebhooks.webhooks import Webhook

from api import __version__
from api.errors import WebhookTargetRefused
from api.webhooks.dispatch import ASYNC_COMMIT
from api.webhooks.store import ACTIVE, ATTEMPTS, BODIES, DEAD, DELIVERED, DELIVERIES, PENDING, Subscription
from api.webhooks.targets import Network, check_addresses, host_of

log = logging.getLogger(__name__)

WINDOW = 500  # pending deliveries read per look, in ledger order
ROUND_SECONDS = 0.005  # at most about 200 rounds (looks and group commits of attempts) a second
_PENDING = sql.SQL(
    "SELECT position, stream_id, next_attempt_at <= now() AS due FROM {}"
    " WHERE subscription_id = %s AND state = 'pending' ORDER BY position LIMIT %s"
).format(DELIVERIES)
# When the window above is all held back (a few long streams waiting to retry): each other
# stream's head, from the index of stream heads.
_HEADS = sql.SQL(
    "SELECT position FROM (SELECT DISTINCT ON (stream_id) position,"
    " stream_id, next_attempt_at FROM {} WHERE subscription_id = %s AND state = 'pending'"
    " AND NOT (stream_id = ANY(%s)) ORDER BY stream_id, position) heads WHERE next_attempt_at <= now()"
    " ORDER BY position LIMIT %s"
).format(DELIVERIES)
# The bodies of what was picked only: a look at the queue reads no body.
_BODIES = sql.SQL(
    "SELECT d.position, d.stream_id, b.body, d.attempts FROM {} d JOIN {} b USING (position)"
    " WHERE d.subscription_id = %s AND d.position = ANY(%s) AND d.state = 'pending' ORDER BY d.position"
).format(DELIVERIES, BODIES)
# A failed attempt is logged on its own row; every attempt's outcome is also the delivery's last.
_FAILED_ATTEMPT = sql.SQL(
    "INSERT INTO {} (subscription_id, position, attempt, attempted_at, status, latency_ms, error)"
    " SELECT %s, %s, %s, %s, %s, %s, %s WHERE EXISTS (SELECT 1 FROM {} WHERE subscription_id = %s AND position = %s)"
).format(ATTEMPTS, DELIVERIES)
_SETTLE = sql.SQL(
    "UPDATE {} SET attempts = attempts + 1, state = %s, next_attempt_at = %s, delivered_at = %s,"
    " last_attempt_at = %s, last_status = %s, last_latency_ms = %s, last_error = %s"
    " WHERE subscription_id = %s AND position = %s AND state = 'pending'"
).format(DELIVERIES)
_PURGE = sql.SQL("DELETE FROM {} WHERE state = 'delivered' AND delivered_at < now() - %s").format(DELIVERIES)
_PURGE_BODIES = sql.SQL(
    "DELETE FROM {} b WHERE b.created_at < now() - %s AND NOT EXISTS (SELECT 1 FROM {} d WHERE d.position = b.position)"
).format(BODIES, DELIVERIES)


class Observer(Protocol):
    def webhook_attempted(self, result: str, seconds: float) -> None: ...


@dataclass(frozen=True, slots=True)
class Policy:
    """How the sender behaves (``OMS_WEBHOOK_*`` settings)."""

    allowed: Sequence[Network] = ()
    timeout_seconds: float = 10.0
    concurrency: int = 16
    retry_base_seconds: float = 5.0
    retry_cap_seconds: float = 6 * 3600.0
    retention: timedelta = timedelta(days=7)
    poll_seconds: float = 0.2

    def backoff(self, attempts: int) -> float:
        """Seconds before the next try after ``attempts`` failures: doubling, capped, with half of it random."""
        delay = min(self.retry_cap_seconds, self.retry_base_seconds * 2 ** (attempts - 1))
        return float(delay * random.uniform(0.5, 1.0))  # noqa: S311 - jitter, not a secret


@lru_cache(maxsize=256)
def _signer(secret: str) -> Webhook:
    return Webhook(secret)


def sign(secrets: Sequence[str], msg_id: str, at: datetime, body: bytes) -> str:
    """The ``webhook-signature`` header: one ``v1,`` signature per secret, space-separated."""
    return " ".join(_signer(secret).sign(msg_id, at, body) for secret in secrets)


def heads(pending: Sequence[tuple[int, UUID, bool]], busy: set[UUID], room: int) -> tuple[set[int], set[UUID]]:
    """What may be sent now of ``pending`` (position, stream, due), read in ledger order: the
    first pending delivery of each stream not in flight, if it is due, at most ``room`` of them.
    A stream's later deliveries wait for its first, whether that one is due or not: this is what
    keeps each stream in order. Also answers every stream seen (held back or picked)."""
    seen: set[UUID] = set(busy)
    picked: set[int] = set()
    for position, stream_id, due in pending:
        if stream_id in seen:
            continue
        seen.add(stream_id)
        if due and len(picked) < room:
            picked.add(position)
    return picked, seen


@dataclass
class _Due:
    position: int
    stream_id: UUID
    body: bytes
    attempts: int


@dataclass(frozen=True, slots=True)
class _Outcome:
    at: datetime
    status: int | None
    error: str | None  # None: delivered
    seconds: float


@dataclass
class _Serving:
    subscription: Subscription
    in_flight: dict[UUID, asyncio.Task[None]] = field(default_factory=dict)
    looked_at: float = 0.0  # when its queue was last read (time.monotonic)


class GuardedResolver(AbstractResolver):
    """Resolves a receiver's name as aiohttp does, then refuses it if any address is not allowed.
    The connection goes to exactly the addresses checked, so a name that changes what it points
    at between the check and the connection (DNS rebinding) gains nothing."""

    def __init__(self, allowed: Sequence[Network]) -> None:
        self.allowed = allowed
        self._inner = ThreadedResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[Any]:
        try:
            found = await self._inner.resolve(host, port, family)
        except (OSError, UnicodeError) as failure:
            raise WebhookTargetRefused(f"{host} does not resolve: {failure}") from None
        check_addresses(host, [str(r["host"]) for r in found], self.allowed)
        return found

    async def close(self) -> None:
        await self._inner.close()


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


class Sender:
    """Attempts run as asyncio tasks; their outcomes are recorded together, in one transaction a
    round (a group commit of attempts), and a stream is free for its next delivery only once its
    last outcome is recorded, so the queue in the database is always what decides what goes."""

    def __init__(self, url: str, policy: Policy, observer: Observer | None = None) -> None:
        self.url = url
        self.policy = policy
        self.observer = observer
        self._serving: dict[str, _Serving] = {}
        self._settling: list[tuple[_Serving, _Due, _Outcome]] = []
        self._purged_at = 0.0
        self._active: dict[str, Subscription] = {}
        self._active_at = -1e9

    async def run(self, stop: threading.Event) -> None:
        connector = aiohttp.TCPConnector(
            limit=0, resolver=GuardedResolver(self.policy.allowed), ttl_dns_cache=30, keepalive_timeout=30
        )
        timeout = aiohttp.ClientTimeout(total=self.policy.timeout_seconds)
        async with (
            AsyncConnectionPool(self.url, min_size=1, max_size=4, open=False) as pool,
            aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False) as session,
        ):
            self.pool, self.session = pool, session
            self._finished = asyncio.Event()
            try:
                while not stop.is_set():
                    try:
                        await self.record()
                        await self.tick()
                    except Exception:  # the database away: try again shortly
                        log.exception("webhook sender could not read or record its deliveries")
                        await asyncio.sleep(1)
                    # Look again when an attempt ends (it may free its stream's next) or the
                    # poll comes round; a moment more gathers the attempts ending together.
                    with suppress(TimeoutError):
                        await asyncio.wait_for(self._finished.wait(), self.policy.poll_seconds)
                    self._finished.clear()
                    await asyncio.sleep(ROUND_SECONDS)
            finally:
                tasks = [t for s in self._serving.values() for t in s.in_flight.values()]
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    async def tick(self) -> None:
        """Start what is due: the head of each stream not in flight, for every active subscription."""
        async with self.pool.connection() as conn:
            now = time.monotonic()
            if now - self._active_at >= self.policy.poll_seconds:  # the list changes rarely
                self._active_at = now
                self._active = {s.id: s for s in await _active(conn)}
            active = self._active
            for gone in set(self._serving) - set(active):
                for task in self._serving.pop(gone).in_flight.values():
                    task.cancel()
            # A queue is read again once a quarter of its room is free, or when the poll comes
            # round: a look for each attempt that ends would cost the database more than sending.
            enough = max(1, self.policy.concurrency // 4)
            for sub in active.values():
                serving = self._serving.setdefault(sub.id, _Serving(sub))
                serving.subscription = sub
                room = self.policy.concurrency - len(serving.in_flight)
                if room <= 0 or (room < enough and now - serving.looked_at < self.policy.poll_seconds):
                    continue
                serving.looked_at = now
                for due in await self._due(conn, sub.id, set(serving.in_flight), room):
                    task = asyncio.create_task(self._attempt(serving, due))
                    serving.in_flight[due.stream_id] = task
                    task.add_done_callback(_ended(serving, due.stream_id, self._finished))
            if time.monotonic() - self._purged_at > 60:
                self._purged_at = time.monotonic()
                await conn.execute(_PURGE, (self.policy.retention,))
                await conn.execute(_PURGE_BODIES, (self.policy.retention,))

    async def _due(self, conn: Any, subscription_id: str, busy: set[UUID], room: int) -> list[_Due]:
        async with conn.cursor(row_factory=dict_row) as cur:
            rows = await (await cur.execute(_PENDING, (subscription_id, WINDOW))).fetchall()
            picked, seen = heads([(r["position"], r["stream_id"], r["due"]) for r in rows], busy, room)
            if not picked and len(rows) == WINDOW:
                beyond = await (await cur.execute(_HEADS, (subscription_id, list(seen), room))).fetchall()
                picked = {r["position"] for r in beyond}
            if not picked:
                return []
            rows = await (await cur.execute(_BODIES, (subscription_id, sorted(picked)))).fetchall()
        return [_Due(r["position"], r["stream_id"], bytes(r["body"]), r["attempts"]) for r in rows]

    async def _attempt(self, serving: _Serving, due: _Due) -> None:
        sub = serving.subscription
        at = datetime.now(UTC)
        status: int | None = None
        error: str | None = None
        started = time.perf_counter()
        try:
            host, _ = host_of(sub.url)
            if _is_address(host):  # a name is checked as it is resolved (GuardedResolver)
                check_addresses(host, [host.strip("[]")], self.policy.allowed)
            msg_id = str(due.position)
            headers = {
                "content-type": "application/json",
                "user-agent": f"oms-ledger-webhooks/{__version__}",
                "webhook-id": msg_id,
                "webhook-timestamp": str(int(at.timestamp())),
                "webhook-signature": sign(sub.secrets_at(at), msg_id, at, due.body),
            }
            async with self.session.post(sub.url, data=due.body, headers=headers, allow_redirects=False) as response:
                status = response.status
                await response.read()  # the answer is not used, but reading it keeps the connection
            if not 200 <= status < 300:
                error = f"HTTP {status}" + (" (redirects are not followed)" if 300 <= status < 400 else "")
        except WebhookTargetRefused as refused:
            error = refused.detail
        except (aiohttp.ClientError, TimeoutError) as failure:
            name = "timed out" if isinstance(failure, TimeoutError) else type(failure).__name__
            error = f"{name}: {failure}" if str(failure) else name
        except Exception as failure:  # a defect still ends in a failed attempt, with backoff
            log.exception("webhook delivery %s of %s failed unexpectedly", due.position, sub.id)
            error = f"{type(failure).__name__}: {failure}"
        self._settling.append((serving, due, _Outcome(at, status, error, time.perf_counter() - started)))

    async def record(self) -> None:
        """Record every attempt that ended since the last round, in one transaction, then free
        their streams. Should the database not take them, the deliveries stay pending and go
        again (with the same ``webhook-id``)."""
        settling, self._settling = self._settling, []
        if not settling:
            return
        settles, failures, results = [], [], []
        for serving, due, outcome in settling:
            row, result = self._outcome(serving.subscription, due, outcome)
            settles.append(row)
            if outcome.error is not None:
                sub_id = serving.subscription.id
                attempt = (sub_id, due.position, due.attempts + 1, outcome.at, outcome.status, outcome.seconds * 1000)
                failures.append((*attempt, outcome.error, sub_id, due.position))
            results.append((result, outcome.seconds))
        try:
            async with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
                await cur.execute(ASYNC_COMMIT)
                await cur.executemany(_SETTLE, settles)
                if failures:
                    await cur.executemany(_FAILED_ATTEMPT, failures)  # a deleted subscription's are dropped
        except psycopg.Error as failure:
            log.warning("%d webhook attempts could not be recorded, and go again: %s", len(settling), failure)
        finally:
            for serving, due, _ in settling:
                serving.in_flight.pop(due.stream_id, None)
        if self.observer is not None:
            for result, seconds in results:
                self.observer.webhook_attempted(result, seconds)

    def _outcome(self, sub: Subscription, due: _Due, outcome: _Outcome) -> tuple[tuple[Any, ...], str]:
        at, status, error = outcome.at, outcome.status, outcome.error
        attempt = due.attempts + 1
        if error is None:
            state, next_at, delivered_at, result = DELIVERED, at, datetime.now(UTC), "delivered"
        elif attempt >= sub.max_attempts:
            state, next_at, delivered_at, result = DEAD, at, None, "dead"
            log.error("webhook delivery %s of %s dead after %d attempts: %s", due.position, sub.id, attempt, error)
        else:
            state, delivered_at, result = PENDING, None, "failed"
            next_at = at + timedelta(seconds=self.policy.backoff(attempt))
            log.warning(
                "webhook delivery %s of %s failed (attempt %d of %d, again at %s): %s",
                due.position,
                sub.id,
                attempt,
                sub.max_attempts,
                next_at.isoformat(timespec="seconds"),
                error,
            )
        latency = outcome.seconds * 1000
        return (state, next_at, delivered_at, at, status, latency, error, sub.id, due.position), result


def _ended(serving: _Serving, stream_id: UUID, finished: asyncio.Event) -> Any:
    """When an attempt's task ends: wake the loop; a task that ended with no outcome (cancelled,
    or a defect) frees its stream at once, for the delivery to go again."""

    def done(task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is not None:
            if not task.cancelled():
                log.error("a webhook attempt failed", exc_info=task.exception())
            serving.in_flight.pop(stream_id, None)
        finished.set()

    return done


async def _active(conn: Any) -> list[Subscription]:
    async with conn.cursor(row_factory=class_row(Subscription)) as cur:
        await cur.execute(ACTIVE)
        return list(await cur.fetchall())
