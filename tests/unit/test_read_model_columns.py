"""The orders read model's columns are declared once; what fills them and what reads them agree."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.orders import Order
from projections.orders import COLUMNS, ORDER_COLUMNS, _row
from queries.models import OrderDetail, OrderRow
from tests.helpers import memory_ledger
from tests.scenarios import deterministic, every_event


def test_a_row_fills_every_declared_column_and_no_other() -> None:
    ledger = memory_ledger()
    deterministic(ledger)
    every_event(ledger)
    order: Order = ledger.repository.get(Order.id_for("O-1"))
    extra = {"location_id": "WH1", "updated_at": datetime.now(UTC), "version": order.version, "last_position": 1}
    assert sorted(_row(order, extra)) == sorted(COLUMNS) and list(ORDER_COLUMNS) == COLUMNS


def test_the_api_reads_only_declared_columns() -> None:
    assert set(OrderRow.model_fields) <= set(COLUMNS)
    assert set(OrderDetail.model_fields) - set(OrderRow.model_fields) == {
        "line_items",
        "personal_data",
        "ship_to",
        *("shipments", "return_items", "payments", "holds", "notes"),  # the order desk's documents
    }
