"""Finance queries: money by period, the payments for matching a settlement, open balances."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, Literal

from psycopg import Connection, sql
from psycopg.rows import dict_row

from commands.eventstore.names import read_table
from domain.errors import InvalidCommand
from projections.finance import ORDER_FIGURES
from queries import pagination
from queries.filters import Where
from queries.kpis import Granularity, period_start
from queries.models import BalanceRow, BalancesPage, FinanceAnswer, FinanceRow, PaymentRow, PaymentsPage

DAILY = read_table("finance_daily")
PAYMENTS = read_table("finance_payments")
ORDERS = read_table("orders")
BALANCES = ("open_authorization", "balance_due", "refund_due")
Owing = Literal["balance_due", "refund_due", "open_authorization"]


def daily(
    conn: Connection[Any],
    *,
    start: date | None = None,
    end: date | None = None,
    granularity: Granularity = "day",
    currency: str | None = None,
    channel: str | None = None,
) -> FinanceAnswer:
    """Rows per period, currency and channel for days ``start`` to ``end`` (both included).

    Flows count the period's days; the balances are everything up to the period's end, so the
    days before ``start`` are read too."""
    where = Where().equals(currency=currency, channel=channel)
    if end is not None:
        where.add(sql.SQL("day <= %s"), end)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            sql.SQL("SELECT * FROM {} WHERE {} ORDER BY day, currency, channel").format(DAILY, where.sql()),
            where.params,
        ).fetchall()
    running: dict[tuple[str, str], dict[str, Decimal]] = {}
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        balances = running.setdefault((row["currency"], row["channel"]), dict.fromkeys(BALANCES, Decimal(0)))
        for name in BALANCES:
            balances[name] += row[name]
        if start is not None and row["day"] < start:
            continue
        key = (period_start(row["day"], granularity), row["currency"], row["channel"])
        into = groups.setdefault(key, {"orders": 0, **dict.fromkeys(ORDER_FIGURES, Decimal(0))})
        into["orders"] += row["orders"]
        for name in ORDER_FIGURES:
            if name not in BALANCES:
                into[name] += row[name]
        into.update(balances)  # rows come by day: the last one of the period leaves its end
    return FinanceAnswer(
        rows=[
            _row(key, totals)
            for key, totals in sorted(groups.items(), key=lambda kv: tuple("" if v is None else str(v) for v in kv[0]))
        ]
    )


def _row(key: tuple[Any, ...], t: dict[str, Any]) -> FinanceRow:
    net_sales = t["gross_sales"] - t["discounts"] - t["cancellations"] - t["returns"]
    return FinanceRow(
        period_start=key[0],
        currency=key[1],
        channel=key[2],
        orders=t["orders"],
        gross_sales=t["gross_sales"],
        discounts=t["discounts"],
        cancellations=t["cancellations"],
        returns=t["returns"],
        net_sales=net_sales,
        shipping=t["shipping"],
        tax=t["tax"],
        fees=t["fees"],
        total_sales=net_sales + t["shipping"] + t["tax"] + t["fees"],
        authorized=t["authorized"],
        captured=t["captured"],
        voided=t["voided"],
        refunded=t["refunded"],
        outstanding_authorizations=t["open_authorization"],
        balance_due=t["balance_due"],
        refund_due=t["refund_due"],
    )


def payments(
    conn: Connection[Any],
    *,
    start: date | None = None,
    end: date | None = None,
    provider: str | None = None,
    reference: str | None = None,
    kind: str | None = None,
    order_id: str | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> PaymentsPage:
    """Payments in ledger order, for matching a provider's settlement report line by line."""
    where = Where().equals(provider=provider, reference=reference, kind=kind, order_id=order_id)
    if start is not None:
        where.add(sql.SQL("day >= %s"), start)
    if end is not None:
        where.add(sql.SQL("day <= %s"), end)
    if cursor is not None:
        (after,) = pagination.decode(cursor, 1)
        if not after.isdigit():
            raise InvalidCommand("cursor is not one this API gave out")
        where.add(sql.SQL("position > %s"), int(after))
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            sql.SQL("SELECT * FROM {} WHERE {} ORDER BY position LIMIT %s").format(PAYMENTS, where.sql()),
            [*where.params, limit + 1],
        ).fetchall()
    items = [PaymentRow.model_validate(r) for r in rows[:limit]]
    more = len(rows) > limit and items
    return PaymentsPage(items=items, next_cursor=pagination.encode([str(items[-1].position)]) if more else None)


def balances(
    conn: Connection[Any],
    *,
    owing: Owing | None = None,
    currency: str | None = None,
    channel: str | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> BalancesPage:
    """Orders with money open: a balance due, a refund due or an open authorization."""
    where = Where().equals(currency=currency, channel=channel)
    if owing is None:
        where.add(sql.SQL("(balance_due > 0 OR refund_due > 0 OR open_authorization > 0)"))
    else:
        where.add(sql.SQL("{} > 0").format(sql.Identifier(owing)))
    if cursor is not None:
        where.add(sql.SQL("order_id > %s"), *pagination.decode(cursor, 1))
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            sql.SQL("SELECT * FROM {} WHERE {} ORDER BY order_id LIMIT %s").format(ORDERS, where.sql()),
            [*where.params, limit + 1],
        ).fetchall()
    items = [BalanceRow.model_validate(r) for r in rows[:limit]]
    more = len(rows) > limit and items
    return BalancesPage(items=items, next_cursor=pagination.encode([items[-1].order_id]) if more else None)
