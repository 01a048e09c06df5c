from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from domain.errors import InvalidCommand, OccurredInFuture
from domain.meta import Meta

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def test_business_time_defaults_to_now() -> None:
    assert Meta.at(NOW).occurred_at == NOW


def test_business_time_may_be_in_the_past_and_is_kept_in_utc() -> None:
    earlier = datetime(2026, 5, 1, 9, 0, tzinfo=timezone(timedelta(hours=-2)))
    assert Meta.at(NOW, earlier).occurred_at == datetime(2026, 5, 1, 11, 0, tzinfo=UTC)


def test_business_time_in_the_future_is_refused() -> None:
    with pytest.raises(OccurredInFuture):
        Meta.at(NOW, NOW + timedelta(seconds=1))


def test_business_time_without_a_zone_is_refused() -> None:
    with pytest.raises(InvalidCommand):
        Meta.at(NOW, datetime(2026, 5, 1, 9, 0))


def test_caused_events_keep_the_request_and_name_their_cause() -> None:
    meta = Meta.at(NOW, actor="shop:integrator", correlation_id="req-1")
    caused = meta.caused_by("stream/3")
    assert (caused.actor, caused.correlation_id, caused.causation_id) == ("shop:integrator", "req-1", "stream/3")
