"""Ledgers written by earlier versions load unchanged: stored events are forever.

``tests/fixtures/ledger_e4b0bf5.json.gz`` (before typed records), ``ledger_7fa25da.json.gz``
(typed records, before order money; with sealed snapshots and the hash chain) and
``ledger_11674ee.json.gz`` (order money, before the order desk) hold the stored rows
of small ledgers written by those commits, with every aggregate's state as that version read it.
Here they go into a database as they were, and today's code must read the same state, from the
snapshots and from the events alone, and go on writing on top of them.
"""

from __future__ import annotations

import base64
import gzip
import json
from dataclasses import asdict, is_dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from eventsourcing.persistence import StoredEvent

from api.database import ledger_env
from commands import messages as m
from commands.chain_verify import verify
from commands.ledger import Ledger
from commands.row_checks import with_rows_checked
from commands.seals import Seals
from domain.base import LedgerAggregate
from domain.errors import OrderOnHold, RefundExceedsReturn
from domain.order_records import HoldKind, ReturnStep
from domain.orders import Order
from domain.payments import PaymentKind
from domain.pricing import Amounts
from tests.helpers import execute

FIXTURES = Path(__file__).parents[1] / "fixtures"
VERSIONS = ("e4b0bf5", "7fa25da", "11674ee")
BEFORE_MONEY = ("e4b0bf5", "7fa25da")
# State an aggregate has gained since each fixture's commit, as an aggregate of then reads today.
MONEY_ADDED: dict[str, Any] = {
    "prices_include_tax": False,
    "order_discounts": [],
    "shipping_lines": [],
    "shipping_cancelled": {"gross": "0", "discount": "0", "tax": "0"},
    "shipping_returned": {"gross": "0", "discount": "0", "tax": "0"},
    "fees": "0",
}
DESK_ADDED: dict[str, Any] = {"holds": {}}
ADDED_SINCE: dict[str, dict[str, dict[str, Any]]] = {
    "e4b0bf5": {"Order": {"notes": [], **MONEY_ADDED, **DESK_ADDED}},
    "7fa25da": {"Order": {**MONEY_ADDED, **DESK_ADDED}},
    "11674ee": {"Order": DESK_ADDED},
}
PROPERTIES = ("status", "payment_status", "return_status", "total", "available", "committed", "on_hand")


def _plain(value: Any) -> Any:
    """State as the fixture writes it: enums by value, amounts and times as strings, records as dicts."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal | datetime | UUID):
        return str(value)
    if is_dataclass(value) and not isinstance(value, type):
        return _plain(asdict(value))
    return value


def _state(aggregate: LedgerAggregate, written_by: str) -> dict[str, Any]:
    """The state as the fixture holds it: what has been added since must hold its default."""
    state = {k: _plain(v) for k, v in vars(aggregate).items() if not k.startswith("_")}
    for name in PROPERTIES:
        if hasattr(type(aggregate), name):
            state[name] = _plain(getattr(aggregate, name))
    for name, default in ADDED_SINCE[written_by].get(type(aggregate).__name__, {}).items():
        assert state.pop(name) == default, name
    if isinstance(aggregate, Order):
        if written_by in BEFORE_MONEY:
            _money_added_since(aggregate, state)
        _desk_added_since(aggregate, state)
    return state


def _fixed_since(state: dict[str, Any]) -> dict[str, Any]:
    """The one reading changed on purpose: an order cancelled before any payment was ``paid``
    (its total fell to zero, and zero counted as paid); it is ``unpaid`` now."""
    unpaid = all(Decimal(v) == 0 for v in state.get("payments", {}).values())
    if state.get("status") == "cancelled" and state.get("payment_status") == "paid" and unpaid:
        return {**state, "payment_status": "unpaid"}
    return state


def _money_added_since(order: Order, state: dict[str, Any]) -> None:
    """Lines and returns gained price terms and the amounts their events took: an order of then
    had no terms, so what came off is unit price x units, as its total always said."""
    for sku, line in order.lines.items():
        assert (line.discounts, line.taxes) == ((), ())
        assert line.cancelled_amounts == Amounts(line.unit_price * line.cancelled), sku
        assert line.returned_amounts == Amounts(line.unit_price * line.returned), sku
        for name in ("discounts", "taxes", "cancelled_amounts", "returned_amounts"):
            del state["lines"][sku][name]
    for return_id, returned in order.returns.items():
        received = sum(order.lines[sku].unit_price * r.received for sku, r in returned.lines.items())
        assert (returned.credit, returned.fee, returned.refunded) == (received, 0, 0), return_id
        for name in ("credit", "fee", "refunded"):
            del state["returns"][return_id][name]


def _desk_added_since(order: Order, state: dict[str, Any]) -> None:
    """Returns were open at once before review, with no replacements; shipments had no tracking URL."""
    for return_id, returned in order.returns.items():
        assert (returned.step, returned.replacements, returned.decision_reason) == (ReturnStep.APPROVED, (), None)
        for name in ("step", "replacements", "decision_reason"):
            del state["returns"][return_id][name]
    for shipment_id, shipment in order.shipments.items():
        assert shipment.tracking_url is None, shipment_id
        del state["shipments"][shipment_id]["tracking_url"]


@pytest.fixture(scope="module", params=VERSIONS)
def written(request: pytest.FixtureRequest) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(gzip.decompress((FIXTURES / f"ledger_{request.param}.json.gz").read_bytes()))
    return loaded


def _bytes(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)


@pytest.fixture
def legacy(pg_url: str, written: dict[str, Any]) -> Ledger:
    with psycopg.connect(pg_url) as conn:
        conn.cursor().executemany(
            "INSERT INTO ledger.ledger_events (notification_id, originator_id, originator_version, topic, state)"
            " VALUES (%s, %s, %s, %s, %s)",
            [(n, i, v, t, base64.b64decode(s)) for n, i, v, t, s in written["events"]],
        )
        conn.execute(
            "SELECT setval(pg_get_serial_sequence('ledger.ledger_events', 'notification_id'), %s)",
            (len(written["events"]),),
        )
        # Rows from 7fa25da on carry the snapshot's seal and chain hash, and the chain itself.
        conn.cursor().executemany(
            "INSERT INTO ledger.ledger_snapshots (originator_id, originator_version, topic, state, event_hash, seal)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            [
                (i, v, t, _bytes(s), *map(_bytes, sealed or (None, None)))
                for i, v, t, s, *sealed in written["snapshots"]
            ],
        )
        conn.cursor().executemany(
            "INSERT INTO ledger.event_hashes (notification_id, hash, seal) VALUES (%s, %s, %s)",
            [(n, _bytes(h), _bytes(seal)) for n, h, seal in written.get("event_hashes", [])],
        )
        conn.cursor().executemany(
            "INSERT INTO ledger.event_times (originator_id, originator_version, occurred_at, recorded_at, out_of_order)"
            " VALUES (%s, %s, %s, %s, %s)",
            written.get("event_times", []),
        )
        columns = ", ".join(written["key_columns"])
        conn.cursor().executemany(
            f"INSERT INTO ledger.customer_keys ({columns}) VALUES (%s, %s, %s, %s)",
            [(k, c, base64.b64decode(s), t) for k, c, s, t in written["keys"]],
        )
    return Ledger(env=ledger_env(pg_url, pool_size=2))


def test_the_fixture_holds_every_kind_of_row(written: dict[str, Any]) -> None:
    topics = {event[3] for event in written["events"]}
    assert len(topics) >= 25
    assert {"Order", "StockItem"} <= {a["type"] for a in written["aggregates"].values()}
    assert len(written["snapshots"]) >= 2  # an order's and a stock item's


def test_every_aggregate_reads_as_the_version_that_wrote_it(legacy: Ledger, written: dict[str, Any]) -> None:
    events: dict[str, list[StoredEvent]] = {}
    for _, stream, version, topic, state in written["events"]:
        events.setdefault(stream, []).append(StoredEvent(UUID(stream), version, topic, base64.b64decode(state)))
    try:
        for stream, expected in written["aggregates"].items():
            # Through the snapshots where there are some ...
            aggregate = legacy.repository.get(UUID(stream))
            assert type(aggregate).__name__ == expected["type"]
            assert aggregate.version == expected["version"]
            state = _fixed_since(expected["state"])
            assert _state(aggregate, written["written_by"]) == state, stream
            # ... and folded from the events alone.
            folded: Any = None
            for stored in events[stream]:
                folded = legacy.mapper.to_domain_event(stored).mutate(folded)  # type: ignore[attr-defined]
            assert _state(folded, written["written_by"]) == state, stream
    finally:
        legacy.close()


@pytest.mark.parametrize("written", ["e4b0bf5"], indirect=True)
def test_commands_go_on_from_a_legacy_ledger(legacy: Ledger) -> None:
    try:
        execute(legacy, m.ReceiveStock(sku="C", location_id="WH1", quantity=5))
        shipped = execute(
            legacy,
            m.ShipOrder(
                order_id="O-4", shipment_id="S-9", location_id="WH1", lines=(m.LineQuantity(sku="C", quantity=3),)
            ),
        )
        placed = execute(
            legacy,
            m.PlaceOrder(
                order_id="O-9",
                channel="web",
                customer_id="cust-1",
                currency="GBP",
                lines=(m.OrderLine(sku="A", quantity=2, unit_price=Decimal("1.00")),),
            ),
        )
        assert shipped.position is not None and placed.position is not None
        assert placed.position > shipped.position > 309
        order: Order = legacy.repository.get(Order.id_for("O-4"))
        assert order.status == "shipped"
    finally:
        legacy.close()


@pytest.mark.parametrize("written", ["7fa25da"], indirect=True)
def test_money_goes_on_from_a_ledger_written_before_it(legacy: Ledger, written: dict[str, Any], pg_url: str) -> None:
    """On 7fa25da's ledger: the chain verifies, the sealed snapshots are used, and the money rules
    apply to the orders of then (a refund may name a return received then, up to its credit)."""
    try:
        with psycopg.connect(pg_url) as conn:
            # Every snapshot, sealed then, still checks (so loads use it), and so does the chain.
            checked = with_rows_checked(conn, verify(conn, (), Seals(None)), Seals(None))
        assert checked.ok and checked.findings == [], checked
        assert checked.sealed_through == len(written["events"])
        order: Order = legacy.repository.get(Order.id_for("O-1"))
        assert order.returns["R-1"].refund_due == Decimal("5.00")  # 2 x 2.50 received, paid by no refund
        with pytest.raises(RefundExceedsReturn):
            execute(
                legacy,
                m.RecordPayment(order_id="O-1", kind=PaymentKind.REFUND, amount=Decimal("5.01"), return_id="R-1"),
            )
        execute(
            legacy, m.RecordPayment(order_id="O-1", kind=PaymentKind.REFUND, amount=Decimal("5.00"), return_id="R-1")
        )
        cancelled: Order = legacy.repository.get(Order.id_for("O-2"))
        assert (cancelled.status, cancelled.payment_status) == ("cancelled", "authorized")
        done = execute(legacy, m.RecordPayment(order_id="O-2", kind=PaymentKind.VOID, amount=Decimal("15.00")))
        assert done.extra["payment_status"] == "voided"
    finally:
        legacy.close()


@pytest.mark.parametrize("written", ["11674ee"], indirect=True)
def test_the_order_desk_goes_on_from_a_ledger_written_before_it(legacy: Ledger, pg_url: str) -> None:
    """On 11674ee's ledger (priced orders, sealed snapshots of version 4): the chain and seals
    check, a return received then is refunded through its own step, and the open priced order is
    held, edited and shipped once released."""
    try:
        with psycopg.connect(pg_url) as conn:
            checked = with_rows_checked(conn, verify(conn, (), Seals(None)), Seals(None))
        assert checked.ok and checked.findings == [], checked
        returned: Order = legacy.repository.get(Order.id_for("P-1"))
        assert returned.returns["PR-1"].status == "received"
        due = returned.returns["PR-1"].refund_due
        refunded = execute(legacy, m.RefundReturn(order_id="P-1", return_id="PR-1"))
        assert (refunded.extra["refunded"], refunded.extra["return_state"]) == (str(due), "refunded")
        execute(legacy, m.PlaceHold(order_id="P-2", hold_id="h1", kind=HoldKind.FRAUD, reason="check"))
        with pytest.raises(OrderOnHold):
            execute(legacy, m.ShipOrder(order_id="P-2", shipment_id="S-P2"))
        more = execute(legacy, m.ChangeLineQuantity(order_id="P-2", sku="P", quantity=5, reason="one more"))
        assert more.extra["total"] == "60.00"  # tax-inclusive: 5 x 12.00
        execute(legacy, m.ReleaseHold(order_id="P-2", hold_id="h1", reason="fine"))
        shipped = execute(legacy, m.ShipOrder(order_id="P-2", shipment_id="S-P2"))
        assert shipped.extra["status"] == "shipped"
    finally:
        legacy.close()
