"""The writer's pre-encoded arrays (``commands.eventstore.arrays``) decode, with psycopg's own
binary loaders, to the values they were made from: whatever the values, NULLs and empty arrays."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from psycopg.adapt import Transformer
from psycopg.pq import Format

from commands.eventstore import appends, arrays

BIGINT = st.integers(-(2**63), 2**63 - 1)
MOMENT = st.datetimes(
    min_value=datetime(1900, 1, 1),
    max_value=datetime(2200, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]),
)


def decoded(array: arrays.Array) -> list[Any]:
    loader = Transformer().get_loader(array.array_oid, Format.BINARY)
    return list(loader.load(array.data))


CASES: list[tuple[Callable[[Sequence[Any]], arrays.Array], st.SearchStrategy[Any]]] = [
    (arrays.Bigints.of, BIGINT),
    (arrays.Uuids.of, st.uuids()),
    (arrays.Texts.of, st.text()),
    (arrays.Byteas.of, st.binary() | st.none()),
    (arrays.Timestamps.of, MOMENT | st.none()),
    (arrays.Bools.of, st.booleans()),
]


@pytest.mark.parametrize(("encode", "element"), CASES, ids=lambda c: getattr(c, "__qualname__", ""))
@given(data=st.data())
def test_each_array_decodes_to_what_it_was_made_of(
    encode: Callable[[Sequence[Any]], arrays.Array], element: st.SearchStrategy[Any], data: st.DataObject
) -> None:
    values = data.draw(st.lists(element, max_size=40))
    assert decoded(encode(values)) == values


def test_a_moment_without_a_time_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        arrays.Timestamps.of([datetime(2026, 1, 1)])


def test_the_append_names_every_parameter() -> None:
    assert b"%(occurred_before)b" in appends.APPEND
    assert b"%b" not in appends.APPEND  # a positional one would fail beside the named ones
