"""Process-wide tuning for the long-running commands: serve (and its HTTP processes), import,
and the projection workers and rebuilds."""

from __future__ import annotations

import gc

# Python's cyclic collector runs every 700 allocations by default, and its older
# generations then walk every object alive: the aggregate cache and the app's routes
# and models included. Aggregates, events and answers are trees, so cycles are rare
# here, and the collector can run far less often.
GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc() -> None:
    """Move what start-up built out of the collector's sight, and collect less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
