"""Finance read model: money by day, currency and channel; payments; open balances."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from api.deps import ContainerDep, require
from api.errors import READ_ERRORS
from api.keys import Principal, Role
from api.reads import CSV_ANSWER, Cursor, Limit, MinPosition, ReadConnection, caught_up, exported, exported_pages
from api.schemas.common import _ID_PATTERN, PRINTABLE_PATTERN, Currency, IsoDate
from queries import finance
from queries.kpis import Granularity
from queries.models import BalanceRow, BalancesPage, FinanceAnswer, PaymentRow, PaymentsPage

router = APIRouter(prefix="/v1/finance", tags=["finance"], responses=READ_ERRORS)
Finance = Annotated[Principal, Depends(require(Role.ANALYST, Role.AUDITOR))]
Channel = Annotated[str | None, Query(max_length=32, pattern=PRINTABLE_PATTERN)]
Text = Annotated[str | None, Query(max_length=128, pattern=PRINTABLE_PATTERN)]
FirstDay = Annotated[IsoDate | None, Query(alias="from", description="First day (UTC), included.")]
LastDay = Annotated[IsoDate | None, Query(alias="to", description="Last day (UTC), included.")]


@router.get("/daily", response_model=FinanceAnswer, responses=CSV_ANSWER)
def daily(
    request: Request,
    conn: ReadConnection,
    container: ContainerDep,
    _: Finance,
    start: FirstDay = None,
    end: LastDay = None,
    granularity: Granularity = "day",
    currency: Annotated[Currency | None, Query()] = None,
    channel: Channel = None,
    min_position: MinPosition = None,
) -> FinanceAnswer | Response:
    """Sales, tax, shipping, payments and balances per period, currency and channel, by the day
    each event happened; balances are as at the period's end."""
    caught_up(conn, container, "finance", min_position)
    answer = finance.daily(conn, start=start, end=end, granularity=granularity, currency=currency, channel=channel)
    return exported(request, answer, "rows", "finance")


@router.get("/payments", response_model=PaymentsPage, responses=CSV_ANSWER)
def payments(
    request: Request,
    conn: ReadConnection,
    container: ContainerDep,
    _: Finance,
    start: FirstDay = None,
    end: LastDay = None,
    provider: Annotated[str | None, Query(max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$")] = None,
    reference: Text = None,
    kind: Annotated[str | None, Query(pattern=r"^(authorization|capture|void|refund)$")] = None,
    order_id: Annotated[str | None, Query(max_length=64, pattern=_ID_PATTERN)] = None,
    cursor: Cursor = None,
    limit: Limit = 100,
    min_position: MinPosition = None,
) -> PaymentsPage | Response:
    """Every payment in ledger order, with its provider and reference: a settlement report's
    lines match these one by one."""
    caught_up(conn, container, "finance", min_position)
    query = partial(
        finance.payments, start=start, end=end, provider=provider, reference=reference, kind=kind, order_id=order_id
    )
    return exported_pages(
        request,
        container,
        conn,
        query,
        model=PaymentRow,
        cursor=cursor,
        limit=limit,
        filename="payments",
    )


@router.get("/balances", response_model=BalancesPage, responses=CSV_ANSWER)
def balances(
    request: Request,
    conn: ReadConnection,
    container: ContainerDep,
    _: Finance,
    owing: finance.Owing | None = None,
    currency: Annotated[Currency | None, Query()] = None,
    channel: Channel = None,
    cursor: Cursor = None,
    limit: Limit = 100,
    min_position: MinPosition = None,
) -> BalancesPage | Response:
    """Orders with money open (a balance due, a refund due or an open authorization), by order id."""
    caught_up(conn, container, "orders", min_position)
    query = partial(finance.balances, owing=owing, currency=currency, channel=channel)
    return exported_pages(
        request,
        container,
        conn,
        query,
        model=BalanceRow,
        cursor=cursor,
        limit=limit,
        filename="balances",
    )
