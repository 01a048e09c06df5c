"""Customer keys in PostgreSQL, beside the event store but never inside an event."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from uuid import UUID

from eventsourcing.postgres import PostgresDatastore
from psycopg.sql import SQL, Composed, Identifier

from commands.personal_data import CustomerKey, Erasure


def ddl(schema: str) -> list[Composed]:
    keys, erasures = Identifier(schema, "customer_keys"), Identifier(schema, "customer_erasures")
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


class PostgresKeyStore:
    def __init__(self, datastore: PostgresDatastore) -> None:
        self.datastore = datastore
        keys = Identifier(datastore.schema, "customer_keys")
        self._table = keys
        self._select = SQL("SELECT key_id, secret FROM {} WHERE customer_id = %s").format(keys)
        self._insert = SQL(
            "INSERT INTO {} (key_id, customer_id, secret) VALUES (%s, %s, %s) ON CONFLICT (customer_id) DO NOTHING"
        ).format(keys)
        self._secrets = SQL("SELECT key_id, secret FROM {} WHERE key_id = ANY(%s)").format(keys)
        self._delete = SQL("DELETE FROM {} WHERE customer_id = %s").format(keys)
        self._record = SQL(
            "INSERT INTO {} (customer_id, erased_at, actor, keys_deleted) VALUES (%s, now(), %s, %s)"
            " RETURNING erased_at"
        ).format(Identifier(datastore.schema, "customer_erasures"))

    def key_for(self, customer_id: str) -> CustomerKey:
        with self.datastore.get_connection() as conn:
            row = conn.execute(self._select, (customer_id,)).fetchone()
            if row is None:
                new = CustomerKey.new()
                conn.execute(self._insert, (new.key_id, customer_id, new.secret))
                # A racing first order may have won; either way one key is now stored.
                row = conn.execute(self._select, (customer_id,)).fetchone()
        if row is None:
            raise LookupError(f"no key for customer {customer_id!r} after creating one")
        return CustomerKey(row["key_id"], bytes(row["secret"]))

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
