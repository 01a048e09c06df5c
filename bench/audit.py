"""What tamper evidence costs, on an imported ledger.

- ``oms audit verify``: the chain checked (hashes, content digest, the writer's seals) in events/s,
  in the database and walked here, beside the floor of reading the same rows here without
  hashing; the checks of the rows beside the events (snapshots, idempotency records, time index)
  in seconds; and a verify since a checkpoint 1,000, 10,000 and 100,000 events before the head.
- Loading a hot stock item: its latest snapshot read and checked (seal, and the chain hash of
  its event, joined in the same query) against the same snapshot read alone, in microseconds,
  alternating so that both see the same machine.

    python -m bench.audit URL
"""

from __future__ import annotations

import sys
import time
from typing import Any
from uuid import UUID

import psycopg

from api.database import ledger_env
from commands.chain import Resume, Verification, walk
from commands.chain_verify import stored_rows, verify
from commands.eventstore.postgres import PostgresEventStore
from commands.ledger import Ledger
from commands.row_checks import with_rows_checked
from commands.seals import Seals

_RAW_SNAPSHOT = (
    "SELECT originator_id, originator_version, topic, state FROM ledger.ledger_snapshots"
    " WHERE originator_id = ANY(%b) ORDER BY originator_version DESC LIMIT 1"
)


def verify_figures(url: str) -> dict[str, Any]:
    seals = Seals()  # the import ran without a ledger key: unkeyed seals, the same work per row
    with psycopg.connect(url) as conn:
        started = time.perf_counter()
        rows = sum(1 for _ in stored_rows(conn))
        read = time.perf_counter() - started
        started = time.perf_counter()
        walked = verify(conn, seals=seals, here=True)
        walking = time.perf_counter() - started
        started = time.perf_counter()
        result = verify(conn, seals=seals)
        checking = time.perf_counter() - started
        assert result == walked, "the check in the database and the walk disagree"
        started = time.perf_counter()
        checked = with_rows_checked(conn, result, seals)
        beside = time.perf_counter() - started
        since = {n: _since(conn, seals, result, n) for n in (1_000, 10_000, 100_000) if n < result.events}
    return {
        "events": result.events,
        "ok": checked.ok,
        "read_rows_per_second": rows / read,
        "verify_events_per_second": result.events / checking,
        "verify_seconds": checking,
        "walk_here_events_per_second": result.events / walking,
        "row_checks_seconds": beside,
        "verify_share_of_read_floor": (result.events / checking) / (rows / read),
        "since_checkpoint_seconds": since,
    }


def _since(conn: psycopg.Connection[Any], seals: Seals, whole: Verification, added: int) -> float:
    """Seconds of a verify trusting a checkpoint ``added`` events before the head, rows beside included."""
    positions = [
        r[0]
        for r in conn.execute("SELECT notification_id FROM ledger.ledger_events ORDER BY 1 DESC LIMIT %s", (added + 1,))
    ]
    at = positions[-1]
    prefix = walk(r for r in stored_rows(conn) if r[0] <= at)  # the head there: no seal need end it
    assert prefix.ok, prefix
    assert prefix.head is not None
    assert prefix.content is not None
    start = Resume(at, bytes.fromhex(prefix.head), prefix.events, bytes.fromhex(prefix.content))
    started = time.perf_counter()
    result = with_rows_checked(conn, verify(conn, seals=seals, start=start), seals, after=at)
    seconds = time.perf_counter() - started
    assert result.ok, result
    assert result.events == whole.events
    return seconds


def hot_snapshot(url: str, loads: int = 2000) -> dict[str, Any]:
    ledger = Ledger(env=ledger_env(url, pool_size=2))
    try:
        store = ledger.store
        assert isinstance(store, PostgresEventStore)
        with psycopg.connect(url) as conn:
            row = conn.execute(
                "SELECT originator_id, count(*) FROM ledger.ledger_snapshots GROUP BY 1 ORDER BY 2 DESC LIMIT 1"
            ).fetchone()
        if row is None:
            return {}
        stream: UUID = row[0]
        checked, raw = [], []
        for _ in range(loads):
            # Each the way the store reads: a pooled connection per call.
            started = time.perf_counter()
            with store.datastore.get_connection() as conn, conn.cursor() as cur:
                cur.execute(_RAW_SNAPSHOT.encode(), ([stream],), prepare=True, binary=True)
                cur.fetchall()
            raw.append(time.perf_counter() - started)
            started = time.perf_counter()
            found = store.latest_snapshots([stream])
            checked.append(time.perf_counter() - started)
        assert found, "the hot item's snapshot did not check"
    finally:
        ledger.close()
    raw.sort()
    checked.sort()
    median_raw, median_checked = raw[len(raw) // 2], checked[len(checked) // 2]
    return {
        "snapshots_of_item": row[1],
        "raw_snapshot_us": median_raw * 1e6,
        "checked_snapshot_us": median_checked * 1e6,
        "check_cost_us": (median_checked - median_raw) * 1e6,
        "ratio": median_checked / median_raw,
    }


def main() -> None:
    url = sys.argv[1]
    figures = verify_figures(url)
    print(
        f"verify: {figures['events']:,} events, {figures['verify_events_per_second']:,.0f} events/s"
        f" (walked here {figures['walk_here_events_per_second']:,.0f}/s; reading the rows here"
        f" {figures['read_rows_per_second']:,.0f}/s); rows beside the events checked in"
        f" {figures['row_checks_seconds']:.1f} s; ok={figures['ok']}"
    )
    for added, seconds in figures["since_checkpoint_seconds"].items():
        print(f"verify since a checkpoint {added:,} events before the head: {seconds:.2f} s, rows beside included")
    hot = hot_snapshot(url)
    print(
        f"hot stock item snapshot: read {hot['raw_snapshot_us']:.0f} us, read and checked"
        f" {hot['checked_snapshot_us']:.0f} us (x{hot['ratio']:.2f}, +{hot['check_cost_us']:.0f} us)"
    )


if __name__ == "__main__":
    main()
