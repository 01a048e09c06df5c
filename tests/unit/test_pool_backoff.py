"""The pools' reconnection interval, which lives below psycopg_pool's public settings."""

from __future__ import annotations

import pytest
from psycopg_pool.base import AttemptWithBackoff

from api.database import RECONNECT_EVERY_SECONDS, reconnect_quickly


def test_lost_connections_are_retried_at_a_steady_short_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(AttemptWithBackoff, "INITIAL_DELAY", AttemptWithBackoff.INITIAL_DELAY)
    monkeypatch.setattr(AttemptWithBackoff, "DELAY_BACKOFF", AttemptWithBackoff.DELAY_BACKOFF)
    reconnect_quickly()
    attempt = AttemptWithBackoff(timeout=300)
    delays = []
    for now in range(6):  # the library's own arithmetic, as its pools call it after each failure
        attempt.update_delay(float(now))
        delays.append(attempt.delay)
    assert all(d <= RECONNECT_EVERY_SECONDS * 1.2 for d in delays), delays
