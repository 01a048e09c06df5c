"""Every projection, and the DDL of the read schema."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.persistence import Mapper
from psycopg import Cursor, sql

from commands.eventstore.names import READ_SCHEMA
from projections.audit import AuditProjection
from projections.base import Projection, Tables
from projections.finance import FinanceProjection
from projections.kpis import FulfillmentProjection
from projections.orders import OrdersProjection
from projections.runner import POSITIONS
from projections.stock import StockProjection


def all_projections(mapper: Mapper[UUID]) -> dict[str, Projection]:
    projections: list[Projection] = [
        StockProjection(),
        OrdersProjection(mapper.transcoder),
        FulfillmentProjection(mapper.transcoder),
        AuditProjection(),
        FinanceProjection(mapper.transcoder),
    ]
    return {p.name: p for p in projections}


def create_read_schema(cur: Cursor[Any], mapper: Mapper[UUID]) -> None:
    cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(READ_SCHEMA)))
    cur.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (name text PRIMARY KEY, position bigint NOT NULL,"
            " updated_at timestamptz NOT NULL DEFAULT now())"
        ).format(POSITIONS)
    )
    for projection in all_projections(mapper).values():
        projection.create(cur, Tables(projection.tables))
