"""Customer personal data, sealed with a key per customer, so that deleting the key erases it.

Events hold only the sealed form. Erasing a customer deletes their key and never
touches an event, so the ledger stays immutable and its hash chain still verifies.
A sealed value names its key by a random id, not by the customer: after an erasure
a returning customer gets a new key, and what the old key sealed stays unreadable.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol
from uuid import UUID, uuid4

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "pd1"
_NONCE_BYTES = 12


@dataclass(frozen=True, slots=True)
class CustomerKey:
    key_id: UUID
    secret: bytes

    @classmethod
    def new(cls) -> CustomerKey:
        return cls(uuid4(), AESGCM.generate_key(bit_length=256))


@dataclass(frozen=True, slots=True)
class Erasure:
    customer_id: str
    erased_at: datetime
    actor: str
    keys_deleted: int


class CustomerKeys(Protocol):
    def keys_for(self, customer_ids: Collection[str]) -> dict[str, CustomerKey]:
        """Each customer's current key, made on first use."""

    def secrets(self, key_ids: Collection[UUID]) -> dict[UUID, bytes]:
        """The secrets of those keys that still exist."""

    def erase(self, customer_id: str, actor: str) -> Erasure:
        """Delete every key of the customer and record who asked, and when."""


class Disclosure(StrEnum):
    NONE = "none"  # the order carried no personal data
    PRESENT = "present"
    ERASED = "erased"  # its key was deleted
    WITHHELD = "withheld"  # the reader's role may not see it


@dataclass(frozen=True, slots=True)
class Revealed:
    disclosure: Disclosure
    data: dict[str, Any] | None = None


class PersonalData:
    """Seals personal data for events and opens it for readers allowed to see it."""

    def __init__(self, keys: CustomerKeys) -> None:
        self.keys = keys

    def sealer(self, customer_ids: Collection[str]) -> Sealer:
        """A sealer holding these customers' keys, fetched (or made) now, in one round trip."""
        return Sealer(self.keys.keys_for(customer_ids) if customer_ids else {})

    def seal(self, customer_id: str, data: Mapping[str, Any] | None) -> str | None:
        return self.sealer([customer_id] if data else []).seal(customer_id, data)

    def reveal(self, customer_id: str, token: str | None) -> Revealed:
        return self.reveal_many([(customer_id, token)])[0]

    def reveal_many(self, sealed: list[tuple[str, str | None]]) -> list[Revealed]:
        """Open many sealed values with one key lookup."""
        parsed = [_parse(token) if token else None for _, token in sealed]
        secrets = self.keys.secrets({p[0] for p in parsed if p is not None})
        revealed = []
        for (customer_id, _), part in zip(sealed, parsed, strict=True):
            if part is None:
                revealed.append(Revealed(Disclosure.NONE))
                continue
            key_id, blob = part
            secret = secrets.get(key_id)
            if secret is None:
                revealed.append(Revealed(Disclosure.ERASED))
                continue
            try:
                plain = AESGCM(secret).decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], _aad(customer_id, key_id))
            except InvalidTag as error:
                raise ValueError(f"sealed personal data of {customer_id!r} does not open with its key") from error
            revealed.append(Revealed(Disclosure.PRESENT, json.loads(plain)))
        return revealed

    def erase(self, customer_id: str, actor: str) -> Erasure:
        return self.keys.erase(customer_id, actor)


def email_hash(index_key: bytes, email: str) -> str:
    """The keyed hash an order is found by: of the address trimmed and in lower case. Without the
    index key it says nothing; it is cleared from the read model when the customer is erased."""
    return hmac.new(index_key, email.strip().lower().encode(), hashlib.sha256).hexdigest()


def _aad(customer_id: str, key_id: UUID) -> bytes:
    # Binding the customer and key stops a sealed value being passed off as another customer's.
    return f"{customer_id}\x1f{key_id}".encode()


def _parse(token: str) -> tuple[UUID, bytes]:
    try:
        prefix, key_id, blob = token.split(".", 2)
        if prefix != PREFIX:
            raise ValueError(prefix)
        return UUID(key_id), base64.urlsafe_b64decode(blob)
    except (ValueError, binascii.Error) as error:
        raise ValueError(f"not sealed personal data: {token[:12]!r}...") from error


class Sealer:
    """Seals with keys fetched before deciding, so that deciding does no I/O."""

    def __init__(self, keys: Mapping[str, CustomerKey]) -> None:
        self._keys = keys

    def seal(self, customer_id: str, data: Mapping[str, Any] | None) -> str | None:
        if not data:
            return None
        key = self._keys.get(customer_id)
        if key is None:  # a defect: the command's registry entry did not name the customer
            raise LookupError(f"the key of customer {customer_id!r} was not fetched before deciding")
        nonce = os.urandom(_NONCE_BYTES)
        plain = json.dumps(dict(data), sort_keys=True, separators=(",", ":")).encode()
        sealed = AESGCM(key.secret).encrypt(nonce, plain, _aad(customer_id, key.key_id))
        return f"{PREFIX}.{key.key_id}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"


class MemoryCustomerKeys:
    """Keys in memory, for unit tests without I/O."""

    def __init__(self) -> None:
        self._current: dict[str, CustomerKey] = {}
        self._secrets: dict[UUID, tuple[str, bytes]] = {}
        self.erasures: list[Erasure] = []
        self._lock = threading.Lock()

    def keys_for(self, customer_ids: Collection[str]) -> dict[str, CustomerKey]:
        with self._lock:
            for customer_id in customer_ids:
                if customer_id not in self._current:
                    key = self._current[customer_id] = CustomerKey.new()
                    self._secrets[key.key_id] = (customer_id, key.secret)
            return {c: self._current[c] for c in customer_ids}

    def secrets(self, key_ids: Collection[UUID]) -> dict[UUID, bytes]:
        with self._lock:
            return {k: self._secrets[k][1] for k in key_ids if k in self._secrets}

    def erase(self, customer_id: str, actor: str) -> Erasure:
        with self._lock:
            doomed = [k for k, (owner, _) in self._secrets.items() if owner == customer_id]
            for key_id in doomed:
                del self._secrets[key_id]
            self._current.pop(customer_id, None)
            erasure = Erasure(customer_id, datetime.now(UTC), actor, len(doomed))
            self.erasures.append(erasure)
            return erasure


NO_SEALER = Sealer({})  # until the prefetch has found whose keys a batch needs
