"""Whole result sets for analysts, streamed at constant memory: CSV, NDJSON and Parquet.

A read route asked for ``text/csv``, ``application/x-ndjson`` or ``application/vnd.apache.parquet``
answers every row its filters select, page after page (``stream_pages``), not one page; and
``oms export read TABLE`` writes a whole read table to a file (``export_table``). Rows are
encoded as they come: CSV and NDJSON a line each, Parquet a row group every few thousand rows,
its columns typed from the row model (or the table's columns).
"""

from __future__ import annotations

import csv
import io
import json
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import IO, Any
from uuid import UUID

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from psycopg import Connection, sql
from pydantic import BaseModel

from commands.eventstore.names import READ_SCHEMA

CSV, NDJSON, PARQUET = "text/csv", "application/x-ndjson", "application/vnd.apache.parquet"
FORMATS = {"csv": CSV, "ndjson": NDJSON, "parquet": PARQUET}
ROW_GROUP = 5000
PAGE = 1000


class UnknownTable(LookupError):
    pass


# --- what a column holds, as Arrow types --------------------------------------------------

_DECIMAL = pa.decimal128(38, 9)
_TIME = pa.timestamp("us", tz="UTC")
_BY_TYPE: dict[Any, pa.DataType] = {
    bool: pa.bool_(),
    int: pa.int64(),
    float: pa.float64(),
    str: pa.string(),
    Decimal: _DECIMAL,
    datetime: _TIME,
    date: pa.date32(),
    UUID: pa.string(),
}
_BY_PG = {
    "text": pa.string(),
    "uuid": pa.string(),
    "bigint": pa.int64(),
    "integer": pa.int64(),
    "smallint": pa.int64(),
    "boolean": pa.bool_(),
    "numeric": _DECIMAL,
    "double precision": pa.float64(),
    "timestamp with time zone": _TIME,
    "date": pa.date32(),
    "jsonb": pa.string(),
    "json": pa.string(),
    "bytea": pa.binary(),
}


def _arrow_type(annotation: Any) -> pa.DataType:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        return _arrow_type(args[0])
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return pa.string()
    return _BY_TYPE.get(annotation, pa.string())  # lists and objects: their JSON


def model_schema(model: type[BaseModel]) -> pa.Schema:
    hints = typing.get_type_hints(model)
    return pa.schema([(name, _arrow_type(hints[name])) for name in model.model_fields])


def _cell(value: Any, kind: pa.DataType) -> Any:
    if value is None:
        return None
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    if isinstance(value, UUID | Enum) or (kind == pa.string() and not isinstance(value, str)):
        return str(value.value if isinstance(value, Enum) else value)
    return value


# --- encoders ------------------------------------------------------------------------------


def _csv_text(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return "" if value is None else value


def encode_csv(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[bytes]:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for n, row in enumerate(rows, start=1):
        writer.writerow([_csv_text(v) for v in row])
        if n % 500 == 0:
            yield out.getvalue().encode()
            out.seek(0)
            out.truncate()
    yield out.getvalue().encode()


def encode_ndjson(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[bytes]:
    for row in rows:
        yield orjson.dumps(dict(zip(columns, row, strict=True)), default=str) + b"\n"


class _Sink(io.RawIOBase):
    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        self.chunks.append(bytes(b))
        return len(b)

    def take(self) -> bytes:
        out, self.chunks = b"".join(self.chunks), []
        return out


def encode_parquet(schema: pa.Schema, rows: Iterable[Sequence[Any]]) -> Iterator[bytes]:
    sink = _Sink()
    target = pa.PythonFile(sink, mode="w")
    writer = pq.ParquetWriter(target, schema, compression="zstd")
    kinds = [field.type for field in schema]
    names = schema.names

    def group(batch: list[Sequence[Any]]) -> None:
        columns = [[_cell(row[i], kind) for row in batch] for i, kind in enumerate(kinds)]
        writer.write_table(
            pa.Table.from_arrays([pa.array(c, type=k) for c, k in zip(columns, kinds, strict=True)], names)
        )

    try:
        batch: list[Sequence[Any]] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= ROW_GROUP:
                group(batch)
                batch = []
                yield sink.take()
        if batch or not sink.chunks:
            group(batch)
    finally:
        writer.close()
        target.close()
    yield sink.take()


def encode(media: str, columns: Sequence[str], schema: pa.Schema, rows: Iterable[Sequence[Any]]) -> Iterator[bytes]:
    if media == PARQUET:
        return encode_parquet(schema, rows)
    if media == NDJSON:
        return encode_ndjson(columns, rows)
    return encode_csv(columns, rows)


# --- sources -------------------------------------------------------------------------------


def stream_pages(fetch: Callable[[str | None], Any], cursor: str | None = None) -> Iterator[BaseModel]:
    """Every item of a paged query from ``cursor`` on: ``fetch(cursor)`` answers a page with
    ``items`` and ``next_cursor``."""
    while True:
        page = fetch(cursor)
        yield from page.items
        cursor = page.next_cursor
        if not cursor:
            return


# Columns never exported: the sealed ship-to and the email index are for the service itself.
_PRIVATE = frozenset({"personal_data", "email_hash"})
_INTERNAL_TABLES = frozenset({"orders_state", "projection_positions"})


def table_columns(conn: Connection[Any], table: str) -> list[tuple[str, pa.DataType]]:
    if table in _INTERNAL_TABLES:
        raise UnknownTable(f"read.{table} is the service's own state, not for export")
    rows = conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = %s AND table_name = %s"
        " ORDER BY ordinal_position",
        (READ_SCHEMA, table),
    ).fetchall()
    if not rows:
        raise UnknownTable(f"no read table named {table!r}")
    return [(name, _BY_PG.get(kind, pa.string())) for name, kind in rows if name not in _PRIVATE]


def count_rows(conn: Connection[Any], table: str) -> int:
    table_columns(conn, table)
    row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(READ_SCHEMA, table))).fetchone()
    return int(row[0]) if row else 0


def export_table(
    conn: Connection[Any],
    table: str,
    format: str,
    out: IO[bytes],
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write every row of ``read.<table>`` to ``out``; the number of rows."""
    columns = table_columns(conn, table)
    names = [name for name, _ in columns]
    schema = pa.schema(columns)
    count = 0

    def rows() -> Iterator[tuple[Any, ...]]:
        nonlocal count
        query = sql.SQL("SELECT {} FROM {}").format(
            sql.SQL(", ").join(map(sql.Identifier, names)), sql.Identifier(READ_SCHEMA, table)
        )
        with conn.transaction(), conn.cursor(name="export") as cur:  # a server-side cursor: constant memory
            cur.itersize = ROW_GROUP
            cur.execute(query)
            for row in cur:
                count += 1
                if progress is not None and count % ROW_GROUP == 0:
                    progress(count)
                yield tuple(row)

    for chunk in encode(FORMATS[format], names, schema, rows()):
        out.write(chunk)
    if progress is not None:
        progress(count)
    return count
