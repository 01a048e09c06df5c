"""Emails sent to customers (one row per event and kind, whatever came of it) and opt-outs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import Connection, sql

from commands.eventstore.names import NOTIFICATION_OPT_OUTS, NOTIFICATIONS_SENT, ledger_table

SENT = ledger_table(NOTIFICATIONS_SENT)
OPT_OUTS = ledger_table(NOTIFICATION_OPT_OUTS)

DDL = [
    sql.SQL(
        "CREATE TABLE IF NOT EXISTS {} (position bigint NOT NULL, kind text NOT NULL, order_id text NOT NULL,"
        " customer_id text NOT NULL, result text NOT NULL, detail text, message_id text,"
        " recorded_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (position, kind))"
    ).format(SENT),
    sql.SQL("CREATE INDEX IF NOT EXISTS notifications_sent_order ON {} (order_id, position)").format(SENT),
    sql.SQL(
        "CREATE TABLE IF NOT EXISTS {} (customer_id text PRIMARY KEY, opted_out_at timestamptz NOT NULL,"
        " actor text NOT NULL)"
    ).format(OPT_OUTS),
]

RECORD = sql.SQL(
    "INSERT INTO {} (position, kind, order_id, customer_id, result, detail, message_id)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (position, kind) DO NOTHING"
).format(SENT)
RECORDED = sql.SQL("SELECT 1 FROM {} WHERE position = %s AND kind = %s").format(SENT)


def opted_out(conn: Connection[Any], customer_id: str) -> datetime | None:
    row = conn.execute(
        sql.SQL("SELECT opted_out_at FROM {} WHERE customer_id = %s").format(OPT_OUTS), (customer_id,)
    ).fetchone()
    return row[0] if row else None


def set_opt_out(conn: Connection[Any], customer_id: str, *, out: bool, actor: str) -> datetime | None:
    if not out:
        conn.execute(sql.SQL("DELETE FROM {} WHERE customer_id = %s").format(OPT_OUTS), (customer_id,))
        return None
    row = conn.execute(
        sql.SQL(
            "INSERT INTO {} (customer_id, opted_out_at, actor) VALUES (%s, now(), %s)"
            " ON CONFLICT (customer_id) DO UPDATE SET actor = EXCLUDED.actor RETURNING opted_out_at"
        ).format(OPT_OUTS),
        (customer_id, actor),
    ).fetchone()
    return row[0] if row else None


def sent_for(conn: Connection[Any], order_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        sql.SQL(
            "SELECT position, kind, result, detail, message_id, recorded_at FROM {}"
            " WHERE order_id = %s ORDER BY position"
        ).format(SENT),
        (order_id,),
    ).fetchall()
    keys = ("position", "kind", "result", "detail", "message_id", "recorded_at")
    return [dict(zip(keys, row, strict=True)) for row in rows]
