from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster import Cluster


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """A PostgreSQL cluster of the test's own (``tests.cluster``), stopped afterwards."""
    made = Cluster(tmp_path / "cluster")
    try:
        yield made
    finally:
        made.close()
