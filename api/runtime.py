"""Process-wide tuning for the long-running commands: serve (and its HTTP processes), import,
and the projection workers and rebuilds."""

from __future__ import annotations

import gc

# Python's cyclic collector runs every 700 allocations by default, and its older
# generations then walk every object alive: the aggregate cache and the app's routes
# and models included. Aggregates, events and answers are trees, so cycles are rare
# here, and the collector can run far less often: at 50,000 allocations it still took
# 5.4 s of a 64 s import (a batch's events all live until it is written); at 500,000, 0.3 s.
GC_THRESHOLDS = (500_000, 20, 100)


def tune_gc() -> None:
    """Move what start-up built out of the collector's sight, and collect less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
