"""Signed checkpoints: the ledger's head, signed with the ledger's key, kept where anyone can.

A checkpoint states the head's position and chain hash, the number of events up to it, their
content digest (``commands.chain``) and when it was signed; the Ed25519 signature covers its
canonical JSON. It is written to a file (``oms audit checkpoint --out``) and to
``ledger.checkpoints``, and listed at ``GET /v1/audit/checkpoints``. Whoever keeps one can later
prove, with the public key alone, that the ledger still extends it (``oms audit verify
--checkpoint``).

A checkpoint is signed only for a ledger that verifies: the chain is walked from the latest
checkpoint this key signed (whose own head must still be in place), or from the first event.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg import Connection, sql

from commands.chain import Expectation, Resume, Verification
from commands.chain_verify import verify
from commands.eventstore.names import CHECKPOINTS, EVENT_HASHES, ledger_table
from commands.seals import Seals
from commands.signing import LedgerKey, PublicKey

FORMAT = "oms-ledger checkpoint v1"
TABLE = ledger_table(CHECKPOINTS)


class BadCheckpoint(ValueError):
    """A checkpoint document that cannot be read, or whose signature does not check."""


class Unverified(RuntimeError):
    """The ledger did not verify, so no checkpoint was signed."""

    def __init__(self, result: Verification) -> None:
        super().__init__(f"the ledger does not verify at position {result.first_broken_position}: {result.problem}")
        self.result = result


@dataclass(frozen=True, slots=True)
class Checkpoint:
    position: int
    hash: str  # hex
    events: int
    content: str  # hex
    signed_at: datetime
    key_id: str

    def message(self) -> bytes:
        """The signed bytes: canonical JSON (sorted keys, no spaces) with the format's name."""
        body = {
            "format": FORMAT,
            "position": self.position,
            "hash": self.hash,
            "events": self.events,
            "content": self.content,
            "signed_at": self.signed_at.astimezone(UTC).isoformat(),
            "key_id": self.key_id,
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class Signed:
    checkpoint: Checkpoint
    signature: bytes
    public_key: str  # base64, as the signer stated it: check against a key you trust, not this one

    def document(self) -> dict[str, Any]:
        return {
            "checkpoint": json.loads(self.checkpoint.message()),
            "signature": base64.b64encode(self.signature).decode(),
            "public_key": self.public_key,
        }

    @classmethod
    def from_document(cls, document: Any) -> Signed:
        try:
            body = document["checkpoint"]
            if body["format"] != FORMAT:
                raise BadCheckpoint(f"not a checkpoint of this ledger's format ({body['format']!r})")
            checkpoint = Checkpoint(
                position=_int(body["position"]),
                hash=_hex(body["hash"]),
                events=_int(body["events"]),
                content=_hex(body["content"]),
                signed_at=datetime.fromisoformat(body["signed_at"]),
                key_id=str(body["key_id"]),
            )
            return cls(checkpoint, base64.b64decode(document["signature"], validate=True), str(document["public_key"]))
        except BadCheckpoint:
            raise
        except (KeyError, TypeError, ValueError, binascii.Error) as error:
            raise BadCheckpoint(f"not a checkpoint document: {error!r}") from None

    def verified_by(self, public: PublicKey) -> bool:
        return public.verifies(self.checkpoint.message(), self.signature)

    def check(self, public: PublicKey) -> None:
        """Raise ``BadCheckpoint`` unless ``public`` (a key you trust) made the signature."""
        if not self.verified_by(public):
            raise BadCheckpoint(
                f"the checkpoint at position {self.checkpoint.position} was not signed by key {public.key_id}"
                f" (it names key {self.checkpoint.key_id})"
            )

    def expectation(self, source: str = "the checkpoint") -> Expectation:
        c = self.checkpoint
        return Expectation(bytes.fromhex(c.hash), c.position, c.events, bytes.fromhex(c.content), source=source)


def sign(key: LedgerKey, result: Verification, now: datetime | None = None) -> Signed:
    if not result.ok or result.position is None or result.head is None or result.content is None:
        raise Unverified(result)
    public = key.public
    checkpoint = Checkpoint(
        result.position, result.head, result.events, result.content, now or datetime.now(UTC), public.key_id
    )
    return Signed(checkpoint, key.sign(checkpoint.message()), public.text())


def take(conn: Connection[Any], key: LedgerKey, seals: Seals | None, now: datetime | None = None) -> Signed | None:
    """Verify the ledger since the latest checkpoint this key signed, sign its head and store it;
    None if the ledger is empty or has not grown since."""
    previous, start = since_latest(conn, key.public)
    result = verify(conn, seals=seals, start=start)
    if not result.ok:
        raise Unverified(result)
    if result.position is None or (previous is not None and result.position == previous.checkpoint.position):
        return None
    signed = sign(key, result, now)
    store(conn, signed)
    return signed


def since_latest(conn: Connection[Any], public: PublicKey) -> tuple[Signed | None, Resume | None]:
    """The newest stored checkpoint signed with this key, and where a walk trusting it starts;
    (None, None) if there is none. Unverified if its head is no longer on the chain."""
    previous = latest(conn, public)
    if previous is None:
        return None, None
    c = previous.checkpoint
    found = conn.execute(
        sql.SQL("SELECT hash FROM {} WHERE notification_id = %s").format(ledger_table(EVENT_HASHES)), (c.position,)
    ).fetchone()
    if found is None or bytes(found[0]).hex() != c.hash:
        raise Unverified(
            Verification(False, 0, None, c.position, "the head of the latest checkpoint is no longer on the chain")
        )
    return previous, Resume(c.position, bytes.fromhex(c.hash), c.events, bytes.fromhex(c.content))


def store(conn: Connection[Any], signed: Signed) -> None:
    c = signed.checkpoint
    with conn.transaction():
        conn.execute(
            sql.SQL(
                "INSERT INTO {} (position, hash, events, content, signed_at, key_id, public_key, signature, document)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
            ).format(TABLE),
            (
                c.position,
                bytes.fromhex(c.hash),
                c.events,
                bytes.fromhex(c.content),
                c.signed_at,
                c.key_id,
                signed.public_key,
                signed.signature,
                json.dumps(signed.document()),
            ),
        )


def listing(conn: Connection[Any], limit: int = 100, before: int | None = None) -> list[Signed]:
    """Stored checkpoints, newest first (``before``: only those at lower positions)."""
    rows = conn.execute(
        sql.SQL(
            "SELECT document FROM {} WHERE position < coalesce(%s, 9223372036854775807)"
            " ORDER BY position DESC, id DESC LIMIT %s"
        ).format(TABLE),
        (before, limit),
    ).fetchall()
    return [Signed.from_document(row[0]) for row in rows]


def latest(conn: Connection[Any], public: PublicKey) -> Signed | None:
    """The newest stored checkpoint that this key's signature checks on (others are skipped)."""
    before = None
    while page := listing(conn, 100, before):
        for signed in page:
            if signed.verified_by(public):
                return signed
        before = page[-1].checkpoint.position
    return None


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"not a count or position: {value!r}")
    return value


def _hex(value: Any) -> str:
    if not isinstance(value, str) or len(value) != 64:
        raise ValueError(f"not a SHA-256 digest in hex: {value!r}")
    bytes.fromhex(value)
    return value.lower()
