"""Fixtures the order tests share, on the in-memory event store."""

from __future__ import annotations

import pytest

from commands.ledger import Ledger
from tests.helpers import receive, register


@pytest.fixture
def stocked(ledger: Ledger) -> Ledger:
    register(ledger, "main", priority=1)
    register(ledger, "store", priority=2)
    receive(ledger, "A", "main", 10)
    receive(ledger, "B", "main", 5)
    receive(ledger, "B", "store", 5)
    return ledger
