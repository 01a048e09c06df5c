"""Process-wide tuning for the long-running commands (serve, import, project)."""

from __future__ import annotations

import gc

# Python's cyclic collector runs every 700 allocations by default, and its older
# generations then walk every object alive: the aggregate cache and the app's routes
# and models included. Nothing the ledger keeps is freed by it (aggregates, events and
# answers hold no cycles that outlive a command), so it runs far less often here.
GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc() -> None:
    """Move what start-up built out of the collector's sight, and collect less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
