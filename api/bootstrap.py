"""The composition root: builds everything the service needs from settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from api.database import Database, ledger_env, open_database
from api.settings import Settings
from api.upgrade import upgrade
from commands.ledger import Ledger


@dataclass
class Container:
    settings: Settings
    database: Database
    ledger: Ledger
    _closed: bool = field(default=False, repr=False)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.ledger.close()
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
    except BaseException:
        database.close()
        raise
    return Container(settings, database, ledger)
