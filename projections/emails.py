"""The keyed hash of each order's ship-to email, so support can find orders by email although the
address is sealed. The projection opens the sealed ship-to with the customer's key, read on its own
cursor; an erased customer's key is gone, so their orders get no hash (and erasure clears the ones
written before, see ``api/routers/customers.py``)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any
from uuid import UUID

from psycopg import Cursor

from commands.customer_keys import EMAIL_INDEX_KEY_QUERY, SECRETS_QUERY
from commands.personal_data import CustomerKey, Disclosure, Erasure, PersonalData, email_hash


class _CursorKeys:
    """Customer keys read on the projection's cursor: opening only."""

    def __init__(self, cur: Cursor[Any]) -> None:
        self.cur = cur

    def secrets(self, key_ids: Collection[UUID]) -> dict[UUID, bytes]:
        if not key_ids:
            return {}
        rows = self.cur.execute(SECRETS_QUERY, (list(key_ids),)).fetchall()
        return {row["key_id"]: bytes(row["secret"]) for row in rows}

    def keys_for(self, customer_ids: Collection[str]) -> dict[str, CustomerKey]:
        raise NotImplementedError("a projection never makes keys")

    def erase(self, customer_id: str, actor: str) -> Erasure:
        raise NotImplementedError("a projection never erases")


def hashes(cur: Cursor[Any], sealed: list[tuple[str, str | None]]) -> list[str | None]:
    """Each (customer, sealed ship-to)'s email hash, or None (no email, no ship-to, or erased)."""
    if not any(token for _, token in sealed):
        return [None] * len(sealed)
    row = cur.execute(EMAIL_INDEX_KEY_QUERY).fetchone()
    if row is None:  # a ledger not yet upgraded to the index
        return [None] * len(sealed)
    key = bytes(row["secret"])
    opened = PersonalData(_CursorKeys(cur)).reveal_many(sealed)
    return [
        email_hash(key, str(r.data["email"]))
        if r.disclosure is Disclosure.PRESENT and r.data and r.data.get("email")
        else None
        for r in opened
    ]
