"""Tamper evidence: a hash chain over the stored events, in ledger order, and its verification.

Each event's hash covers the previous event's hash and the event's stored bytes
(position, stream, version, topic, state), so changing or deleting any stored event
breaks every hash after it. The chain is written in the same transaction as the
events, under the event store's table lock, so it has exactly one order.

Someone with write access to the database can recompute the whole chain, so the chain
alone proves nothing against them. Three things do:

- the writer's seal on the last event of every batch it saves (``commands.seals``): events
  added by anyone else end after the last seal, and a rehash breaks the seals after it;
- signed checkpoints (``commands.checkpoints``) and published heads: an earlier view of the
  ledger that the walk below must find again (``Expectation``);
- the content digest, an order-free sum over the events' bytes, which a checkpoint also
  signs: it tells a reordering (same events, other order) from a rewrite.

The walk reads rows from the database or from an export file alike (``walk``); the database's
chain is verified by ``commands.chain_verify``.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from uuid import UUID

from commands.seals import Seals

GENESIS = bytes(32)
_MODULUS = 1 << 256


# What the chain covers of an event: position, stream, version, topic and stored state.
Stored = tuple[int, UUID, int, str, bytes]


# The bytes hashed: previous hash, position, stream, version, then topic and state, each after its length.
_HEAD = struct.Struct(">32sQ16sQQ")
_LENGTH = struct.Struct(">Q")
_CONTENT = struct.Struct(">16sQQ")


def event_hash(previous: bytes, event: Stored) -> bytes:
    position, stream_id, version, topic, state = event
    name = topic.encode()
    # One call over the joined bytes: the same digest as updating part by part, at a third of the cost.
    head = _HEAD.pack(previous, position, stream_id.bytes, version, len(name))
    return hashlib.sha256(b"".join((head, name, _LENGTH.pack(len(state)), state))).digest()


def chain(previous: bytes, events: Iterable[Stored]) -> Iterator[tuple[int, bytes]]:
    for event in events:
        previous = event_hash(previous, event)
        yield event[0], previous


def content_hash(stream_id: UUID, version: int, topic: str, state: bytes) -> int:
    """One event's bytes without its position, as a number: their sum (mod 2^256) over a prefix of
    the ledger is the same in any order."""
    name = topic.encode()
    digest = hashlib.sha256(
        b"".join((_CONTENT.pack(stream_id.bytes, version, len(name)), name, _LENGTH.pack(len(state)), state))
    ).digest()
    return int.from_bytes(digest, "big")


def content_bytes(total: int) -> bytes:
    return (total % _MODULUS).to_bytes(32, "big")


@dataclass(frozen=True, slots=True)
class Expectation:
    """An earlier view of the ledger that the current one must extend.

    From a signed checkpoint: the head's ``position``, ``hash``, the number of ``events`` up to it
    and their ``content`` digest. From a published head: its ``hash`` and ``at_least`` that many
    events in the ledger now."""

    hash: bytes
    position: int | None = None
    events: int | None = None
    content: bytes | None = None
    at_least: int | None = None
    source: str = "the checkpoint"


@dataclass(frozen=True, slots=True)
class Verification:
    ok: bool
    events: int
    head: str | None
    first_broken_position: int | None = None
    problem: str | None = None
    position: int | None = None  # the last event's position
    content: str | None = None  # the content digest of every event, in hex
    sealed_through: int | None = None  # the last position the writer's seal covers
    # Stored rows (snapshots, idempotency records, time index) that failed their check.
    findings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# One row of the walk: position, stream, version, topic, state, the stored hash and seal (None: no row).
Row = tuple[int, UUID | None, int | None, str | None, bytes | None, bytes | None, bytes | None]


@dataclass(frozen=True, slots=True)
class Resume:
    """Where a walk starts when it trusts a prefix (a checkpoint this service signed)."""

    position: int
    hash: bytes
    events: int
    content: bytes


class _Walk:
    def __init__(self, expectations: Iterable[Expectation], seals: Seals | None, start: Resume | None) -> None:
        self.seals = seals
        self.pending = sorted((e for e in expectations if e.position is not None), key=lambda e: e.position or 0)
        self.heads = [e for e in expectations if e.position is None]
        self.found_heads: set[bytes] = set()
        self.previous, self.count, self.content = GENESIS, 0, 0
        self.last_position: int | None = None
        self.last_seal: int | None = None
        self.unsealed_from: int | None = None  # the first position after the last seal
        if start is not None:
            self.previous, self.count = start.hash, start.events
            self.content = int.from_bytes(start.content, "big")
            self.last_position = self.last_seal = start.position

    def broken(self, position: int | None, problem: str) -> Verification:
        return Verification(
            False,
            self.count,
            self.previous.hex() if self.count else None,
            position,
            problem,
            self.last_position,
            content_bytes(self.content).hex(),
            self.last_seal,
        )

    def checkpoints_before(self, position: int | None) -> Verification | None:
        """Check every checkpoint the walk has passed: all of them up to ``position`` (None: the end)."""
        while self.pending and (position is None or position > (self.pending[0].position or 0)):
            expected = self.pending.pop(0)
            problem = self._against(expected, at_end=position is None)
            if problem is not None:
                return self.broken(expected.position, problem)
        return None

    def _against(self, e: Expectation, at_end: bool) -> str | None:
        signed = f"{e.source} signed {e.events} events up to position {e.position}"
        if at_end and (self.last_position or 0) < (e.position or 0):
            return (
                f"truncated: the ledger ends at position {self.last_position or 0} after {self.count} events; {signed}"
            )
        if e.events is not None and self.count < e.events:
            return f"events removed before the checkpoint: {self.count} events up to position {e.position}; {signed}"
        if e.events is not None and self.count > e.events:
            return f"events inserted before the checkpoint: {self.count} events up to position {e.position}; {signed}"
        if self.previous == e.hash and (e.content is None or content_bytes(self.content) == e.content):
            return None
        if e.content is not None and content_bytes(self.content) != e.content:
            return (
                f"rewritten: the events up to position {e.position} are not those {e.source} signed"
                " (an event was changed and the chain recomputed)"
            )
        return f"reordered: the events up to position {e.position} are those {e.source} signed, in another order"

    def step(self, row: Row) -> Verification | None:
        position, stream_id, version, topic, state, stored, seal = row
        passed = self.checkpoints_before(position)
        if passed is not None:
            return passed
        if stream_id is None or version is None or topic is None or state is None:
            return self.broken(position, "the event was deleted")
        if stored is None:
            return self.broken(position, "the event is not in the chain")
        self.previous = event_hash(self.previous, (position, stream_id, version, topic, state))
        if self.previous != stored:
            return self.broken(position, "the event's stored bytes, or an event before it, were altered")
        self.count += 1
        self.content += content_hash(stream_id, version, topic, state)
        self.last_position = position
        if self.heads and self.previous in {h.hash for h in self.heads}:
            self.found_heads.add(self.previous)
        if seal is not None and self.seals is not None:
            if not self.seals.batch_ok(position, self.previous, seal):
                return self.broken(
                    position,
                    "the writer's seal here does not match: the chain up to here was recomputed"
                    " (or the key given is not the writer's)",
                )
            self.last_seal, self.unsealed_from = position, None
        elif self.unsealed_from is None:
            self.unsealed_from = position
        return None

    def finish(self) -> Verification:
        passed = self.checkpoints_before(None)
        if passed is not None:
            return passed
        for head in self.heads:
            if head.hash not in self.found_heads:
                return self.broken(
                    None,
                    f"{head.source} {head.hash.hex()} is not in the ledger: it was rewritten, reordered or truncated",
                )
            if head.at_least is not None and self.count < head.at_least:
                return self.broken(
                    None, f"truncated: the ledger holds {self.count} events; {head.source} had at least {head.at_least}"
                )
        notes: list[str] = []
        if self.seals is not None and self.last_seal is not None and self.unsealed_from is not None:
            return self.broken(
                self.unsealed_from,
                f"events from position {self.unsealed_from} on carry no writer's seal: they were added outside"
                " the service",
            )
        if self.seals is None:
            notes.append("the writer's seals were not checked (no ledger key)")
        elif self.last_seal is None and self.count:
            return self.broken(
                self.unsealed_from,
                "no event carries a writer's seal: they were removed, or every event was written before seals"
                " (then the service's next write seals the ledger)",
            )
        return Verification(
            True,
            self.count,
            self.previous.hex() if self.count else None,
            position=self.last_position,
            content=content_bytes(self.content).hex(),
            sealed_through=self.last_seal,
            notes=notes,
        )


def walk(
    rows: Iterable[Row],
    expectations: Iterable[Expectation] = (),
    seals: Seals | None = None,
    start: Resume | None = None,
) -> Verification:
    """Recompute the chain over rows in ledger order (after ``start``, if given); name the first
    position where it breaks, or where it fails an expectation."""
    state = _Walk(list(expectations), seals, start)
    for row in rows:
        broken = state.step(row)
        if broken is not None:
            return broken
    return state.finish()
