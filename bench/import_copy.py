"""The data set imported end to end (``oms import``), beside a PostgreSQL COPY of as many rows."""

from __future__ import annotations

import io
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from bench.common import oms
from bench.online_retail import main as convert


@dataclass(frozen=True)
class Import:
    commands: int
    events: int
    seconds: float
    failed: int

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds


def commands_file(path: Path, invoices: int | None, dataset: Path) -> Path:
    if not path.exists():
        convert([str(path), "--dataset", str(dataset), *(["--invoices", str(invoices)] if invoices else [])])
    return path


def run_import(url: str, source: Path) -> Import:
    started = time.perf_counter()
    try:
        out = oms("import", str(source), url=url)
    except subprocess.CalledProcessError as error:  # exit status 1: some lines failed; the summary says how many
        out = error.stdout or ""
    seconds = time.perf_counter() - started
    summary = re.search(r"(\d+) lines in [\d.]+s: (\d+) ok, (\d+) failed", out)
    if summary is None:
        raise RuntimeError(f"import gave no summary: {out[-500:]}")
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM ledger.ledger_events").fetchone()
    return Import(int(summary.group(1)), int(row[0]) if row else 0, seconds, int(summary.group(3)))


def copy_floor(url: str) -> Import:
    """COPY the ledger's own event rows (same count, same bytes) into a fresh durable table."""
    buffer = io.BytesIO()
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        with cur.copy("COPY ledger.ledger_events (originator_id, originator_version, topic, state) TO STDOUT") as copy:
            for data in copy:
                buffer.write(data)
        count_row = cur.execute("SELECT count(*) FROM ledger.ledger_events").fetchone()
    rows = int(count_row[0]) if count_row else 0
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_copy")
        conn.execute("CREATE TABLE bench_copy (LIKE ledger.ledger_events INCLUDING ALL)")
    started = time.perf_counter()
    view = buffer.getbuffer()
    with (
        psycopg.connect(url) as conn,
        conn.cursor() as cur,
        cur.copy("COPY bench_copy (originator_id, originator_version, topic, state) FROM STDIN") as copy,
    ):
        for offset in range(0, len(view), 1 << 20):
            copy.write(view[offset : offset + (1 << 20)])
    seconds = time.perf_counter() - started
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE bench_copy")
    return Import(0, rows, seconds, 0)
