from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api.deps import ContainerDep
from api.errors import READ_ERRORS
from api.reads import CSV_ANSWER, Cursor, Limit, MinPosition, ReadConnection, Reader, caught_up, exported_pages
from api.routers.paths import SkuPath
from api.schemas.common import _ID_PATTERN, _SKU_PATTERN
from queries import stock
from queries.models import StockOfSku, StockPage, StockRow

router = APIRouter(prefix="/v1/stock", tags=["stock"], responses=READ_ERRORS)


@router.get("", response_model=StockPage, responses=CSV_ANSWER)
def list_stock(
    request: Request,
    conn: ReadConnection,
    container: ContainerDep,
    _: Reader,
    sku: Annotated[str | None, Query(max_length=64, pattern=_SKU_PATTERN)] = None,
    location_id: Annotated[str | None, Query(max_length=64, pattern=_ID_PATTERN)] = None,
    low_stock: bool | None = None,
    cursor: Cursor = None,
    limit: Limit = 100,
    min_position: MinPosition = None,
) -> StockPage | Response:
    """Stock per SKU and location: every bucket, on hand, policy and the low-stock flag."""
    caught_up(conn, container, "stock", min_position)
    query = partial(stock.list_stock, sku=sku, location_id=location_id, low_stock=low_stock)
    return exported_pages(
        request,
        container,
        conn,
        query,
        model=StockRow,
        cursor=cursor,
        limit=limit,
        filename="stock",
    )


@router.get("/{sku}", response_model=StockOfSku)
def stock_of_sku(
    sku: SkuPath, conn: ReadConnection, container: ContainerDep, _: Reader, min_position: MinPosition = None
) -> StockOfSku:
    """One SKU: its total over all locations, and each location."""
    caught_up(conn, container, "stock", min_position)
    return stock.stock_of_sku(conn, sku)
