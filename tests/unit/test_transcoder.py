"""The ledger's orjson writer and the library's JSON encoder write the same bytes."""

from __future__ import annotations

import dataclasses
import typing
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from types import UnionType
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.compressor import ZlibCompressor
from eventsourcing.domain import Aggregate, Snapshot
from eventsourcing.persistence import JSONTranscoder, Mapper, TranscodingNotRegisteredError

import domain
from commands.ledger import Ledger
from commands.transcoder import LedgerMapper, LedgerTranscoder
from domain.base import LedgerAggregate
from domain.orders import Order
from domain.stock import AdjustmentReason
from tests.helpers import MEMORY_ENV, item, memory_ledger, order, place, receive, register


def transcoders() -> tuple[JSONTranscoder, JSONTranscoder]:
    ledger = Ledger(env=MEMORY_ENV)
    library = JSONTranscoder()
    ledger.register_transcodings(library)
    assert isinstance(ledger.mapper.transcoder, LedgerTranscoder)
    return ledger.mapper.transcoder, library


def test_writes_what_the_library_writes_for_timestamps_amounts_enums_and_text() -> None:
    ours, library = transcoders()
    state = {
        "occurred_at": datetime(2026, 3, 1, 8, 26, 0, 123, tzinfo=UTC),
        "due": None,
        "amount": Decimal("-12.50"),
        "reason": AdjustmentReason.CORRECTION,
        "name": 'Zoë \u2028 "quoted" \\ <b>',
        "lines": [{"sku": "85123A", "quantity": 6, "ok": True}, ("a", 1)],
        "big": 2**62,
    }
    assert ours.encode(state) == library.encode(state)
    assert ours.decode(ours.encode(state)) == library.decode(library.encode(state))


def test_a_moment_written_again_keeps_the_zone_it_is_given_in() -> None:
    """UTC times are remembered once written; an equal time in another zone is written as given."""
    ours, library = transcoders()
    utc = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    paris = utc.astimezone(timezone(timedelta(hours=1)))
    for state in ({"a": utc, "b": utc}, {"a": paris, "b": utc}, {"a": utc, "b": paris}):
        assert ours.encode(state) == library.encode(state)
    assert b"09:00:00+01:00" in ours.encode({"a": paris})


def test_hands_what_orjson_refuses_to_the_library() -> None:
    ours, library = transcoders()
    for state in ({"by_id": {1: "x"}}, {"huge": 2**70}):
        assert ours.encode(state) == library.encode(state)
    with pytest.raises(TranscodingNotRegisteredError):
        ours.encode({"unknown": object()})


def _event_classes() -> list[type[Any]]:
    aggregates = {c for c in vars(domain).values() if isinstance(c, type)}
    for module in ("orders", "stock", "locations", "transfers"):
        aggregates |= {c for c in vars(__import__(f"domain.{module}", fromlist=["_"])).values() if isinstance(c, type)}
    found = []
    for aggregate in aggregates:
        if isinstance(aggregate, type) and issubclass(aggregate, LedgerAggregate):
            found.append(aggregate)  # its attributes are a snapshot's state
            found += [v for v in vars(aggregate).values() if isinstance(v, type) and issubclass(v, Aggregate.Event)]
    return found


def _kinds(hint: Any, seen: set[Any]) -> set[Any]:
    """Every type a value of this annotation can hold, through containers and dataclasses."""
    if hint in seen:
        return set()
    seen.add(hint)
    kinds = {hint}
    for arg in typing.get_args(hint):
        kinds |= _kinds(arg, seen)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        for value in typing.get_type_hints(hint).values():
            kinds |= _kinds(value, seen)
    if isinstance(hint, UnionType):
        kinds |= {k for a in hint.__args__ for k in _kinds(a, seen)}
    return kinds


def test_events_hold_no_values_orjson_would_write_differently() -> None:
    """UUIDs and floats: orjson writes them in its own way. Stream ids live outside the state
    (the library takes them out of events and snapshots before encoding)."""
    classes = _event_classes()
    assert len(classes) > 20  # the walk really found the domain's events
    for event in classes:
        hints = typing.get_type_hints(event)
        for name, hint in hints.items():
            if name in {"originator_id", "originator_version", "_id"} or typing.get_origin(hint) is typing.ClassVar:
                continue
            kinds = _kinds(hint, set())
            assert UUID not in kinds and float not in kinds, (event.__qualname__, name, hint)


def test_the_ledger_mapper_stores_what_the_library_mapper_stores() -> None:
    ledger = memory_ledger()
    register(ledger, "main")
    receive(ledger, "85123A", "main", 10)
    place(ledger, [("85123A", 2)], order_id="o-1")
    stored = ledger.recorder.select_events(Order.id_for("o-1")) + ledger.recorder.select_events(
        item(ledger, "85123A", "main").id
    )
    assert isinstance(ledger.mapper, LedgerMapper)
    library = Mapper[UUID](transcoder=ledger.mapper.transcoder)
    events = [ledger.mapper.to_domain_event(s) for s in stored]
    events.append(Snapshot.take(order(ledger, "o-1")))  # an Order snapshot carries its class_version
    for event in events:
        assert ledger.mapper.to_stored_event(event) == library.to_stored_event(event)
    zipped = LedgerMapper(ledger.mapper.transcoder, compressor=ZlibCompressor())
    assert zipped.to_stored_event(events[0]) == Mapper[UUID](
        ledger.mapper.transcoder, ZlibCompressor()
    ).to_stored_event(events[0])
