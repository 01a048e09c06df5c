"""Customer keys in PostgreSQL, beside the event store but never inside an event."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.postgres import PostgresDatastore
from psycopg.sql import SQL, Composed

from commands.eventstore.names import CUSTOMER_ERASURES, CUSTOMER_KEYS, EMAIL_INDEX_KEY, ledger_table
from commands.personal_data import CustomerKey, Erasure


def ddl() -> list[Composed]:
    keys, erasures = ledger_table(CUSTOMER_KEYS), ledger_table(CUSTOMER_ERASURES)
    return [
        # One key per customer at a time; an erasure deletes it, a later order makes a new one.
        SQL(
            "CREATE TABLE IF NOT EXISTS {} (key_id uuid PRIMARY KEY, customer_id text NOT NULL UNIQUE,"
            " secret bytea NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"
        ).format(keys),
        SQL(
            "CREATE TABLE IF NOT EXISTS {} (customer_id text NOT NULL, erased_at timestamptz NOT NULL,"
            " actor text NOT NULL, keys_deleted integer NOT NULL)"
        ).format(erasures),
    ]


def email_index_ddl() -> list[Composed]:
    """The key of the email index: random, made once per ledger, kept beside the customer keys."""
    table = ledger_table(EMAIL_INDEX_KEY)
    return [
        SQL("CREATE TABLE IF NOT EXISTS {} (id smallint PRIMARY KEY CHECK (id = 1), secret bytea NOT NULL)").format(
            table
        ),
        SQL("INSERT INTO {} VALUES (1, %(secret)s) ON CONFLICT (id) DO NOTHING").format(table),
    ]


EMAIL_INDEX_KEY_QUERY = SQL("SELECT secret FROM {} WHERE id = 1").format(ledger_table(EMAIL_INDEX_KEY))
SECRETS_QUERY = SQL("SELECT key_id, secret FROM {} WHERE key_id = ANY(%s)").format(ledger_table(CUSTOMER_KEYS))


class PostgresCustomerKeys:
    def __init__(self, datastore: PostgresDatastore) -> None:
        self.datastore = datastore
        keys = ledger_table(CUSTOMER_KEYS)
        self._table = keys
        self._select = SQL("SELECT customer_id, key_id, secret FROM {} WHERE customer_id = ANY(%s)").format(keys)
        self._insert = SQL(
            "INSERT INTO {} (key_id, customer_id, secret)"
            " SELECT * FROM unnest(%s::uuid[], %s::text[], %s::bytea[]) ON CONFLICT (customer_id) DO NOTHING"
        ).format(keys)
        self._secrets = SQL("SELECT key_id, secret FROM {} WHERE key_id = ANY(%s)").format(keys)
        self._delete = SQL("DELETE FROM {} WHERE customer_id = %s").format(keys)
        self._record = SQL(
            "INSERT INTO {} (customer_id, erased_at, actor, keys_deleted) VALUES (%s, now(), %s, %s)"
            " RETURNING erased_at"
        ).format(ledger_table(CUSTOMER_ERASURES))

    def keys_for(self, customer_ids: Collection[str]) -> dict[str, CustomerKey]:
        """One query for a batch's customers; those without a key get one, in a second and third."""
        wanted = list(dict.fromkeys(customer_ids))
        with self.datastore.get_connection() as conn:
            found = self._found(conn.execute(self._select, (wanted,)).fetchall())
            missing = [c for c in wanted if c not in found]
            if missing:
                new = [CustomerKey.new() for _ in missing]
                conn.execute(self._insert, ([k.key_id for k in new], missing, [k.secret for k in new]))
                # A racing first order may have won; either way one key per customer is now stored.
                found.update(self._found(conn.execute(self._select, (missing,)).fetchall()))
        lost = [c for c in wanted if c not in found]
        if lost:
            raise LookupError(f"no key for customers {lost!r} after creating them")
        return found

    @staticmethod
    def _found(rows: list[Any]) -> dict[str, CustomerKey]:
        return {row["customer_id"]: CustomerKey(row["key_id"], bytes(row["secret"])) for row in rows}

    def secrets(self, key_ids: Collection[UUID]) -> dict[UUID, bytes]:
        if not key_ids:
            return {}
        with self.datastore.get_connection() as conn:
            rows = conn.execute(self._secrets, (list(key_ids),)).fetchall()
        return {row["key_id"]: bytes(row["secret"]) for row in rows}

    def erase(self, customer_id: str, actor: str) -> Erasure:
        with self.datastore.get_connection() as conn:
            with conn.transaction():
                deleted = conn.execute(self._delete, (customer_id,)).rowcount
                row = conn.execute(self._record, (customer_id, actor, deleted)).fetchone()
            # Best effort at dropping the dead row's bytes from the table's pages; WAL and
            # backups keep them until they expire (see the README).
            conn.execute(SQL("VACUUM {}").format(self._table))
        erased_at: datetime = row["erased_at"] if row else datetime.min
        return Erasure(customer_id, erased_at, actor, deleted)
