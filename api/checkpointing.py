"""Signing checkpoints: once on demand (``oms audit checkpoint``), or periodically in ``oms serve``."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

from psycopg_pool import ConnectionPool

from api.metrics import Metrics
from commands.checkpoints import Signed, Unverified, take
from commands.seals import Seals
from commands.signing import LedgerKey

log = logging.getLogger(__name__)


def write_file(signed: Signed, path: Path) -> Path:
    """The checkpoint as a JSON document; into a folder it goes as ``checkpoint-<position>.json``."""
    if path.is_dir():
        path = path / f"checkpoint-{signed.checkpoint.position}.json"
    path.write_text(json.dumps(signed.document(), indent=2) + "\n", encoding="utf-8")
    return path


class Checkpointer:
    def __init__(
        self, pool: ConnectionPool, key: LedgerKey, seals: Seals, metrics: Metrics, folder: Path | None
    ) -> None:
        self.pool, self.key, self.seals, self.metrics, self.folder = pool, key, seals, metrics, folder

    def once(self) -> Signed | None:
        """Verify what was added since the last checkpoint and sign the head; None if it did not grow."""
        try:
            with self.pool.connection() as conn:
                signed = take(conn, self.key, self.seals)
        except Unverified as error:
            self.metrics.checkpoints.labels("refused").inc()
            log.error("no checkpoint signed: %s", error)
            return None
        if signed is None:
            self.metrics.checkpoints.labels("unchanged").inc()
            return None
        self.metrics.checkpoints.labels("signed").inc()
        c = signed.checkpoint
        where = write_file(signed, self.folder) if self.folder is not None else None
        log.info(
            "checkpoint signed at position %d (%d events, head %s)%s",
            c.position,
            c.events,
            c.hash,
            f", written to {where}" if where else "",
        )
        return signed

    def run_forever(self, stop: threading.Event, seconds: float) -> None:
        while not stop.wait(seconds):
            try:
                self.once()
            except Exception:
                self.metrics.checkpoints.labels("failed").inc()
                log.exception("signing a checkpoint failed; trying again in %.0f s", seconds)
