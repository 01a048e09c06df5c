"""API keys: one role each, stored as SHA-256 hashes, never in clear.

A key reads ``oms_<key id>_<secret>``; the secret has 256 bits of entropy, so a
plain SHA-256 of it is enough (no slow hash needed against guessing).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from commands.eventstore.names import API_KEYS, ledger_table


class Role(StrEnum):
    ADMIN = "admin"
    INTEGRATOR = "integrator"
    ANALYST = "analyst"
    SUPPORT = "support"
    AUDITOR = "auditor"


_TABLE = ledger_table(API_KEYS)

DDL = [
    sql.SQL(
        "CREATE TABLE IF NOT EXISTS {} ("
        " key_id text PRIMARY KEY,"
        " name text NOT NULL,"
        " role text NOT NULL,"
        " key_hash text NOT NULL UNIQUE,"
        " created_at timestamptz NOT NULL DEFAULT now(),"
        " revoked_at timestamptz)"
    ).format(_TABLE),
]
_INSERT = sql.SQL("INSERT INTO {} (key_id, name, role, key_hash) VALUES (%s, %s, %s, %s)").format(_TABLE)
_COUNT = sql.SQL("SELECT count(*) FROM {}").format(_TABLE)
_LIST = sql.SQL("SELECT key_id, name, role, created_at, revoked_at FROM {} ORDER BY created_at, key_id").format(_TABLE)
_REVOKE = sql.SQL("UPDATE {} SET revoked_at = now() WHERE key_id = %s AND revoked_at IS NULL").format(_TABLE)
_FIND = sql.SQL("SELECT name, role, key_hash FROM {} WHERE key_id = %s AND revoked_at IS NULL").format(_TABLE)

# Serialises "create the first admin key" across processes starting at once.
FIRST_KEY_LOCK = 7_305_118_402_002


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: str
    name: str
    role: Role

    @property
    def actor(self) -> str:
        """How events name who did it: the key's role and name."""
        return f"{self.role.value}:{self.name}"


@dataclass(frozen=True, slots=True)
class KeyInfo:
    key_id: str
    name: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_secret() -> tuple[str, str]:
    # No "_" inside either part: it separates them in the key.
    return secrets.token_hex(6), secrets.token_urlsafe(32).replace("_", "-")


def _split(key: str) -> tuple[str, str] | None:
    parts = key.split("_")
    if len(parts) != 3 or parts[0] != "oms" or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


class KeyStore:
    def __init__(self, pool: ConnectionPool, cache_seconds: float = 5.0) -> None:
        self.pool = pool
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._lock = threading.Lock()

    def create(self, name: str, role: Role) -> str:
        """Store a new key and return it; the only time it is ever seen in clear."""
        key_id, secret = _new_secret()
        with self.pool.connection() as conn:
            conn.execute(_INSERT, (key_id, name, role.value, _hash(secret)))
        return f"oms_{key_id}_{secret}"

    def create_first_admin(self) -> str | None:
        """Create an admin key if there is no key at all; else None."""
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (FIRST_KEY_LOCK,))
            row = conn.execute(_COUNT).fetchone()
            if row is not None and row[0] > 0:
                return None
            key_id, secret = _new_secret()
            conn.execute(_INSERT, (key_id, "admin", Role.ADMIN.value, _hash(secret)))
        return f"oms_{key_id}_{secret}"

    def list(self) -> list[KeyInfo]:
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            rows = cursor.execute(_LIST).fetchall()
        return [KeyInfo(r["key_id"], r["name"], Role(r["role"]), r["created_at"], r["revoked_at"]) for r in rows]

    def revoke(self, key_id: str) -> bool:
        with self.pool.connection() as conn:
            cursor = conn.execute(_REVOKE, (key_id,))
            revoked = cursor.rowcount == 1
        with self._lock:
            self._cache.clear()
        return revoked

    def authenticate(self, key: str) -> Principal | None:
        """The key's principal, or None for an unknown, malformed or revoked key.

        Answers are cached for ``cache_seconds``, so a revocation made by another
        process takes effect within that time.
        """
        known, principal = self.remembered(key)
        if known:
            return principal
        now = time.monotonic()
        principal = self._lookup(key)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = (now, principal)
        return principal

    def remembered(self, key: str) -> tuple[bool, Principal | None]:
        """(True, answer) when the key's answer is cached and fresh; no I/O."""
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and time.monotonic() - cached[0] < self.cache_seconds:
            return True, cached[1]
        return False, None

    def _lookup(self, key: str) -> Principal | None:
        parts = _split(key)
        if parts is None:
            return None
        key_id, secret = parts
        with self.pool.connection() as conn:
            row = conn.execute(_FIND, (key_id,)).fetchone()
        if row is None or not secrets.compare_digest(row[2], _hash(secret)):
            return None
        return Principal(key_id, row[0], Role(row[1]))
