"""Seals: keyed digests of the stored rows the service trusts when it decides.

A snapshot, an idempotency record and the last chain row of every saved batch carry a seal,
an HMAC-SHA256 of their stored bytes under a key derived from the ledger's key
(``commands.signing``). A snapshot's seal also covers the chain hash of the event it was
taken at, which loading compares with the chain. A row whose seal does not check is not used:
a snapshot is ignored (the aggregate is folded from its events), an idempotency record refuses
its command. Each is reported.

Without a ledger key the seals are plain SHA-256 digests: they catch a row changed by hand,
not someone who recomputes them, and ``oms audit verify`` says so.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from uuid import UUID

import orjson

_LENGTH = struct.Struct(">Q")


class Kind(StrEnum):
    SNAPSHOT = "snapshot"
    IDEMPOTENCY = "idempotency"
    BATCH = "batch"


class Seals:
    def __init__(self, key: bytes | None = None) -> None:
        self._key = key

    @property
    def keyed(self) -> bool:
        return self._key is not None

    def _digest(self, kind: Kind, *parts: bytes) -> bytes:
        # Each part after its length, so no two different rows frame to the same bytes.
        message = b"".join(_LENGTH.pack(len(p)) + p for p in (kind.value.encode(), *parts))
        if self._key is None:
            return hashlib.sha256(message).digest()
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def _matches(self, expected: bytes, found: bytes | None) -> bool:
        return found is not None and hmac.compare_digest(expected, found)

    # --- snapshots ----------------------------------------------------------------

    def snapshot(self, stream: UUID, version: int, topic: str, state: bytes, event_hash: bytes) -> bytes:
        return self._digest(Kind.SNAPSHOT, stream.bytes, _LENGTH.pack(version), topic.encode(), state, event_hash)

    def snapshot_problem(self, row: SnapshotRow) -> str | None:
        """Why a stored snapshot cannot be trusted, or None if it can."""
        if row.seal is None or row.event_hash is None:
            return "it carries no seal"
        if row.chain_hash is None:
            return "the event it was taken at is not on the chain"
        if not hmac.compare_digest(row.event_hash, row.chain_hash):
            return "it was taken at an event whose chain hash differs from the chain's"
        expected = self.snapshot(row.stream, row.version, row.topic, row.state, row.event_hash)
        if not self._matches(expected, row.seal):
            return "its seal does not match its bytes"
        return None

    # --- idempotency records ------------------------------------------------------

    def idempotency(self, scope: str, key: str, request_hash: str, result: Mapping[str, Any]) -> bytes:
        # The result as canonical JSON: it is stored as jsonb, which keeps neither order nor spacing.
        canonical = orjson.dumps(result, option=orjson.OPT_SORT_KEYS)
        return self._digest(Kind.IDEMPOTENCY, scope.encode(), key.encode(), request_hash.encode(), canonical)

    def idempotency_problem(
        self, scope: str, key: str, request_hash: str, result: Mapping[str, Any], digest: bytes | None
    ) -> str | None:
        """Why a stored idempotency record cannot be trusted, or None if it can."""
        if digest is None:
            return "it carries no seal"
        if not self._matches(self.idempotency(scope, key, request_hash, result), digest):
            return "its seal does not match its contents"
        return None

    # --- the end of each saved batch ------------------------------------------------

    def batch(self, position: int, chain_hash: bytes) -> bytes:
        """Made by the writer on the last event of each batch it saves: events added to the
        database by anyone else end after the last seal, and a rehash breaks the seals after it."""
        return self._digest(Kind.BATCH, _LENGTH.pack(position), chain_hash)

    def batch_ok(self, position: int, chain_hash: bytes, seal: bytes | None) -> bool:
        return self._matches(self.batch(position, chain_hash), seal)


@dataclass(frozen=True, slots=True)
class SnapshotRow:
    """A stored snapshot with its seal, and the chain's hash of the event it says it was taken at."""

    stream: UUID
    version: int
    topic: str
    state: bytes
    event_hash: bytes | None
    seal: bytes | None
    chain_hash: bytes | None


@dataclass(frozen=True, slots=True)
class Rejected:
    """A stored row that was not used because its seal did not check."""

    kind: Kind
    name: str  # the snapshot's stream and version, or the record's scope and key
    reason: str

    def describe(self) -> str:
        return f"{self.kind.value} {self.name}: {self.reason}"
