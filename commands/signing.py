"""The ledger's key: an Ed25519 key kept outside the database.

It signs checkpoints (anyone holding the public key can check them), and a key derived from it
(HKDF) seals the stored rows the service reads to decide: snapshots, idempotency records and
the end of each saved batch (``commands.seals``). Someone who can write to the database but
does not hold the key can neither sign a checkpoint nor make a seal that checks.

The key is given as PEM (PKCS#8) or as the 32 raw bytes in base64, in a setting or a file;
the public key travels as its 32 raw bytes in base64.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_SEAL_INFO = b"oms-ledger row seals v1"


class BadKey(ValueError):
    """A key that cannot be read."""


@dataclass(frozen=True, slots=True)
class LedgerKey:
    private: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> LedgerKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_text(cls, text: str) -> LedgerKey:
        text = text.strip()
        try:
            if text.startswith("-----BEGIN"):
                key = serialization.load_pem_private_key(text.encode(), password=None)
                if not isinstance(key, Ed25519PrivateKey):
                    raise BadKey("the PEM key is not an Ed25519 private key")
                return cls(key)
            raw = base64.b64decode(text, validate=True)
            return cls(Ed25519PrivateKey.from_private_bytes(raw))
        except BadKey:
            raise
        except ValueError as error:
            raise BadKey(f"not an Ed25519 private key (PEM, or 32 bytes in base64): {error}") from None

    @classmethod
    def from_file(cls, path: Path) -> LedgerKey:
        try:
            return cls.from_text(path.read_text(encoding="ascii"))
        except OSError as error:
            raise BadKey(f"cannot read the key file {path}: {error.strerror}") from None
        except UnicodeDecodeError:
            raise BadKey(f"the key file {path} is not text (PEM or base64)") from None

    def pem(self) -> bytes:
        return self.private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    @property
    def public(self) -> PublicKey:
        return PublicKey(self.private.public_key())

    def sign(self, message: bytes) -> bytes:
        return self.private.sign(message)

    def seal_key(self) -> bytes:
        """The symmetric key row seals are made with: derived, so one secret is all there is to keep."""
        raw = self.private.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_SEAL_INFO).derive(raw)


@dataclass(frozen=True, slots=True)
class PublicKey:
    key: Ed25519PublicKey

    @classmethod
    def from_text(cls, text: str) -> PublicKey:
        try:
            return cls(Ed25519PublicKey.from_public_bytes(base64.b64decode(text.strip(), validate=True)))
        except ValueError as error:
            raise BadKey(f"not an Ed25519 public key (32 bytes in base64): {error}") from None

    def raw(self) -> bytes:
        return self.key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def text(self) -> str:
        return base64.b64encode(self.raw()).decode()

    @property
    def key_id(self) -> str:
        """A short name for the key: the first 8 bytes of the SHA-256 of its raw bytes, in hex."""
        return hashlib.sha256(self.raw()).hexdigest()[:16]

    def verifies(self, message: bytes, signature: bytes) -> bool:
        try:
            self.key.verify(signature, message)
        except InvalidSignature:
            return False
        return True
