"""The library's JSON format, written by orjson.

Writing events was the writer's largest single cost after the domain itself: the library
encodes with the standard ``json`` module and calls back into Python for every timestamp
and amount. This writes the same bytes (``{"_type_": ..., "_data_": ...}`` for registered
types, compact separators, UTF-8) several times faster, and reads with the library, so
stored events are unchanged in either direction.

orjson writes two things differently: UUIDs (as plain strings) and floats (in its own
notation). Events and snapshots hold neither, and a test keeps it so. Anything else
orjson refuses (integer dictionary keys, integers beyond 64 bits) goes to the library's
encoder, which writes it as before.
"""

from __future__ import annotations

import dataclasses
import typing
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Cipher, Compressor, JSONTranscoder, Mapper, StoredEvent, Transcoder, Transcoding
from eventsourcing.utils import get_topic

from domain.hold_rules import HoldRule
from domain.orders import RECORDS, CancelledLine, Line, PlacedLine, ReceivedLine, Return, Shipment
from domain.pricing import Amounts, Discount, ShippingLine, TaxLine

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_UTC_TIMES = 4096


class RecordAsDict(Transcoding):
    """A frozen dataclass of the domain as ``{"_type_": "<module>:<name>", "_data_": {field: value}}``.

    Decoding gives each field its declared type back where JSON cannot carry it: an enum from
    its value, a tuple from a list (nested records and amounts decode by their own transcodings).
    The name is stored in every event that holds such a record, so it never changes."""

    def __init__(self, cls: type[Any], added: tuple[str, ...] = ()) -> None:
        self.type = cls
        self.name = f"{cls.__module__}:{cls.__qualname__}"
        fields = dataclasses.fields(cls)
        self._names = tuple(f.name for f in fields if f.name not in added)
        # Fields added to a record since it was first stored are left out while they hold their
        # default (a plain order's lines carry no price terms), as records written before them.
        self._added = tuple((f.name, _default(f)) for f in fields if f.name in added)
        hints = typing.get_type_hints(cls)
        self._enums = {n: t for n, t in hints.items() if isinstance(t, type) and issubclass(t, Enum)}
        self._tuples = {n for n, t in hints.items() if typing.get_origin(t) is tuple}

    def encode(self, obj: Any) -> dict[str, Any]:
        encoded = {name: getattr(obj, name) for name in self._names}
        for name, default in self._added:
            value = getattr(obj, name)
            # The default itself (amounts of 0.00 are kept: reading back 0 would change a sum's scale).
            if value is not default and not (isinstance(default, tuple) and value == default):
                encoded[name] = value
        return encoded

    def decode(self, data: dict[str, Any]) -> Any:
        # A field added since a record was written is absent, and takes its default.
        for name, enum in self._enums.items():
            if name in data:
                data[name] = enum(data[name])
        for name in self._tuples:
            if name in data:
                data[name] = tuple(data[name])
        return self.type(**data)


def _default(field: dataclasses.Field[Any]) -> Any:
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


# Fields added to records since they were first stored (with order money), left out at their default.
ADDED_FIELDS: dict[type[Any], tuple[str, ...]] = {
    Line: ("discounts", "taxes", "cancelled_amounts", "returned_amounts"),
    PlacedLine: ("discounts", "taxes"),
    CancelledLine: ("amounts",),
    ReceivedLine: ("amounts",),
    Return: ("credit", "fee", "refunded", "step", "replacements", "decision_reason"),
    Shipment: ("tracking_url",),
}

# Records written as lists (see RecordAsList); their form is stored in every event holding one.
COMPACT_RECORDS: tuple[type[Any], ...] = (Amounts, Discount, TaxLine, ShippingLine)


class RecordAsList(Transcoding):
    """A small frozen dataclass of amounts as ``{"_type_": ..., "_data_": [value, ...]}``, its
    fields in declared order and its amounts as decimal strings.

    For the records an order holds many of (discounts, tax lines, amounts taken): half the bytes
    of ``RecordAsDict`` and one encoder call instead of one per amount. Fields added later go at
    the end, and a list written before them decodes with their defaults."""

    def __init__(self, cls: type[Any]) -> None:
        self.type = cls
        self.name = f"{cls.__module__}:{cls.__qualname__}"
        self._names = tuple(f.name for f in dataclasses.fields(cls))
        hints = typing.get_type_hints(cls)
        self._decimals = tuple(i for i, n in enumerate(self._names) if hints[n] is Decimal)
        self._tuples = tuple(i for i, n in enumerate(self._names) if typing.get_origin(hints[n]) is tuple)

    def encode(self, obj: Any) -> list[Any]:
        values = [getattr(obj, name) for name in self._names]
        for i in self._decimals:
            values[i] = str(values[i])
        return values

    def decode(self, data: list[Any]) -> Any:
        for i in self._decimals:
            if i < len(data):
                data[i] = Decimal(data[i])
        for i in self._tuples:
            if i < len(data):
                data[i] = tuple(data[i])
        return self.type(*data)


def register_domain_transcodings(transcoder: JSONTranscoder) -> None:
    """The domain's records, registered once for every mapper: the Ledger's and the projections'."""
    for cls in (*RECORDS, HoldRule):
        transcoder.register(
            RecordAsList(cls) if cls in COMPACT_RECORDS else RecordAsDict(cls, ADDED_FIELDS.get(cls, ()))
        )


class LedgerTranscoder(JSONTranscoder):
    def encode(self, obj: Any) -> bytes:
        try:
            return orjson.dumps(obj, default=self._encode_registered, option=_OPTIONS)
        except orjson.JSONEncodeError:
            return super().encode(obj)

    def __init__(self) -> None:
        super().__init__()
        # Every event of a command carries the same two times, so each is written once per
        # command. Only UTC times are kept: equal times in other zones are written differently.
        self._utc_times: dict[datetime, dict[str, Any]] = {}

    def _encode_registered(self, o: Any) -> dict[str, Any]:
        """The library's ``_encode_obj`` without its error handling: called for every timestamp
        and amount, that took as long as all the rest of an event. A type with no transcoding
        raises KeyError here, and then the library's encoder names it."""
        if type(o) is datetime and o.tzinfo is UTC:
            encoded = self._utc_times.get(o)
            if encoded is None:
                if len(self._utc_times) >= _UTC_TIMES:
                    self._utc_times.clear()
                transcoding = self.types[datetime]
                encoded = self._utc_times[o] = {"_type_": transcoding.name, "_data_": transcoding.encode(o)}
            return encoded
        transcoding = self.types[type(o)]
        return {"_type_": transcoding.name, "_data_": transcoding.encode(o)}


class LedgerMapper(Mapper[UUID]):
    """The library's mapper, writing the same stored events with less work per event: each event
    class's topic is looked up once, and the stored event is built without its dataclass
    ``__init__``. With a compressor or a cipher configured, the library's own method runs."""

    def __init__(
        self, transcoder: Transcoder, compressor: Compressor | None = None, cipher: Cipher | None = None
    ) -> None:
        super().__init__(transcoder, compressor=compressor, cipher=cipher)
        self._classes: dict[type, tuple[str, int]] = {}

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        if self.compressor is not None or self.cipher is not None:
            return super().to_stored_event(domain_event)
        cls = type(domain_event)
        known = self._classes.get(cls)
        if known is None:
            known = self._classes[cls] = (get_topic(cls), getattr(cls, "class_version", 1))
        topic, class_version = known
        state = domain_event.__dict__.copy()
        stored = object.__new__(StoredEvent)
        stored.__dict__.update(
            originator_id=state.pop("originator_id"), originator_version=state.pop("originator_version"), topic=topic
        )
        if class_version > 1:
            state["class_version"] = class_version
        stored.__dict__["state"] = self.transcoder.encode(state)
        return stored
