"""The composition root: builds everything the service needs from settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from psycopg_pool import ConnectionPool

from api.database import Database, ledger_env, open_database
from api.keys import KeyStore
from api.settings import Settings
from api.upgrade import upgrade
from commands.ledger import Ledger


@dataclass
class Container:
    settings: Settings
    database: Database
    ledger: Ledger
    pool: ConnectionPool
    keys: KeyStore
    _closed: bool = field(default=False, repr=False)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.ledger.close()
            self.pool.close()
            self.database.close()


def build(settings: Settings, *, run_upgrade: bool = True) -> Container:
    database = open_database(settings)
    try:
        if run_upgrade:
            upgrade(database.url)
        ledger = Ledger(
            env=ledger_env(database.url, pool_size=settings.pool_size),
            max_attempts=settings.command_attempts,
        )
        # Keys and (later) queries share one small pool, apart from the event store's.
        pool = ConnectionPool(database.url, min_size=1, max_size=settings.pool_size, open=True)
    except BaseException:
        database.close()
        raise
    return Container(settings, database, ledger, pool, KeyStore(pool, settings.key_cache_seconds))
