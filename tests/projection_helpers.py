"""Running projections in tests, and reading their tables."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from commands.ledger import Ledger
from projections.events import make_mapper
from projections.registry import all_projections
from projections.runner import ProjectionRunner


def project_all(url: str, batch_size: int = 50) -> None:
    mapper = make_mapper()
    for projection in all_projections(mapper).values():
        ProjectionRunner(projection, url, mapper, batch_size=batch_size).run_until_caught_up()


def table(url: str, name: str, order_by: str, suffix: str = "") -> list[dict[str, Any]]:
    with psycopg.connect(url) as conn, conn.cursor(row_factory=dict_row) as cur:
        query = sql.SQL("SELECT * FROM {} ORDER BY {}").format(sql.Identifier("read", name + suffix), sql.SQL(order_by))
        return cur.execute(query).fetchall()


def events(ledger: Ledger) -> list[tuple[int, Any]]:
    notifications = ledger.recorder.select_notifications(start=None, limit=10_000_000)
    return [(n.id, ledger.mapper.to_domain_event(n)) for n in notifications]
