from __future__ import annotations

from collections.abc import Iterator

import pytest

from commands.ledger import Ledger
from tests.helpers import memory_ledger

pytest_plugins = ["tests.postgres"]


@pytest.fixture
def ledger() -> Iterator[Ledger]:
    app = memory_ledger()
    yield app
    app.close()
