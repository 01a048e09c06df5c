"""The one-round-trip append's part of the time index worked out in Python
(``time_index.earlier_in_batch``): for each row, the latest times of the rows of its stream before
it in the batch, and which streams had events before the batch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from hypothesis import given
from hypothesis import strategies as st

from commands.eventstore.batch import EventTime
from commands.eventstore.time_index import earlier_in_batch

STREAMS = [UUID(int=n) for n in range(1, 4)]
START = datetime(2026, 1, 1, tzinfo=UTC)


@st.composite
def batches(draw: st.DrawFn) -> list[EventTime]:
    versions = {s: draw(st.integers(0, 3)) for s in STREAMS}  # events each stream had before
    rows = []
    for stream in draw(st.lists(st.sampled_from(STREAMS), max_size=12)):
        versions[stream] += 1
        at = START + timedelta(minutes=draw(st.integers(-100, 100)))
        rows.append(EventTime(stream, versions[stream], at, at + timedelta(seconds=draw(st.integers(0, 5)))))
    return rows


@given(batches())
def test_each_row_gets_the_latest_times_before_it_in_its_stream(rows: list[EventTime]) -> None:
    occurred, recorded, existing = earlier_in_batch(rows)
    for n, row in enumerate(rows):
        before = [r for r in rows[:n] if r.stream == row.stream]
        assert occurred[n] == max((r.occurred_at for r in before), default=None)
        assert recorded[n] == max((r.recorded_at for r in before), default=None)
    firsts = {r.stream: r for r in reversed(rows)}
    assert set(existing) == {s for s, first in firsts.items() if first.version > 1}
