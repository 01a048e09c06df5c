"""Arrays sent to PostgreSQL already encoded, in its binary array format (``array_send``).

psycopg dumps a list parameter element by element in Python, choosing a dumper for each; for a
group commit's dozen arrays of a few dozen elements that was half of the writer's own work per
batch. The writer knows each array's element type, so it packs each array in one pass here, and
psycopg passes the bytes through (``register``). ``tests/unit/test_arrays.py`` checks every
encoding against psycopg's own dumpers.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from uuid import UUID

from psycopg.adapt import AdaptersMap, Dumper
from psycopg.pq import Format

_HEADER = struct.Struct(">iiiii")  # dimensions, has nulls, element type; length, lower bound
_LENGTH = struct.Struct(">i")
_BIGINT = struct.Struct(">iq")
_UUID_LENGTH = _LENGTH.pack(16)
_NULL = _LENGTH.pack(-1)
_TRUE, _FALSE = _LENGTH.pack(1) + b"\x01", _LENGTH.pack(1) + b"\x00"
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # PostgreSQL's timestamps count microseconds from here
_MICROSECOND = timedelta(microseconds=1)


class Array:
    """One array parameter, encoded; its subclass names the element type."""

    __slots__ = ("data",)
    element_oid: ClassVar[int]
    array_oid: ClassVar[int]

    def __init__(self, data: bytes) -> None:
        self.data = data


def _encoded(cls: type[Array], count: int, elements: Iterable[bytes], nulls: bool = False) -> bytes:
    if not count:
        return struct.pack(">iii", 0, 0, cls.element_oid)
    return b"".join((_HEADER.pack(1, int(nulls), cls.element_oid, count, 1), *elements))


class Bigints(Array):
    __slots__ = ()
    element_oid, array_oid = 20, 1016

    @classmethod
    def of(cls, values: Sequence[int]) -> Bigints:
        pack = _BIGINT.pack
        return cls(_encoded(cls, len(values), (pack(8, v) for v in values)))


class Uuids(Array):
    __slots__ = ()
    element_oid, array_oid = 2950, 2951

    @classmethod
    def of(cls, values: Sequence[UUID]) -> Uuids:
        return cls(_encoded(cls, len(values), (_UUID_LENGTH + v.bytes for v in values)))


class Texts(Array):
    __slots__ = ()
    element_oid, array_oid = 25, 1009

    @classmethod
    def of(cls, values: Sequence[str]) -> Texts:
        encoded = [v.encode() for v in values]
        return cls(_encoded(cls, len(values), (_LENGTH.pack(len(v)) + v for v in encoded)))


class Byteas(Array):
    """Byte strings; None is NULL."""

    __slots__ = ()
    element_oid, array_oid = 17, 1001

    @classmethod
    def of(cls, values: Sequence[bytes | None]) -> Byteas:
        nulls = any(v is None for v in values)
        elements = (_NULL if v is None else _LENGTH.pack(len(v)) + v for v in values)
        return cls(_encoded(cls, len(values), elements, nulls))


class Timestamps(Array):
    """Moments with a time zone (``timestamptz``)."""

    __slots__ = ()
    element_oid, array_oid = 1184, 1185

    @classmethod
    def of(cls, values: Sequence[datetime | None]) -> Timestamps:
        """None is NULL."""
        pack = _BIGINT.pack
        for v in values:
            if v is not None and v.tzinfo is None:
                raise ValueError(f"a moment without a time zone cannot be stored: {v!r}")
        elements = (_NULL if v is None else pack(8, (v - _EPOCH) // _MICROSECOND) for v in values)
        return cls(_encoded(cls, len(values), elements, any(v is None for v in values)))


class Bools(Array):
    __slots__ = ()
    element_oid, array_oid = 16, 1000

    @classmethod
    def of(cls, values: Sequence[bool]) -> Bools:
        return cls(_encoded(cls, len(values), (_TRUE if v else _FALSE for v in values)))


def _dumper(array: type[Array]) -> type[Dumper]:
    class ArrayDumper(Dumper):
        format = Format.BINARY
        oid = array.array_oid

        def dump(self, obj: Any) -> bytes:
            return bytes(obj.data)

    ArrayDumper.__name__ = f"{array.__name__}Dumper"
    return ArrayDumper


ARRAYS: tuple[type[Array], ...] = (Bigints, Uuids, Texts, Byteas, Timestamps, Bools)
_DUMPERS = {array: _dumper(array) for array in ARRAYS}


def register(adapters: AdaptersMap) -> None:
    """Let this connection send the arrays above as they are (binary is their only format)."""
    for array, dumper in _DUMPERS.items():
        adapters.register_dumper(array, dumper)
