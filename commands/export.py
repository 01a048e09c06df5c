"""The ledger as NDJSON, and its verification offline.

Each line is one stored event, in ledger order: its position, stream, version, topic, the
stored bytes of its state (``state``, base64), its chain hash and the writer's seal where the
event ended a batch, and, for reading, the decoded event (``event``). The first line also
carries the chain hash before it (``previous``). ``verify_export`` recomputes the chain from
the stored bytes alone, with no database, and checks that each decoded form is what its bytes
decode to, so neither can be edited without it naming the position.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Mapper, StoredEvent
from psycopg import Connection, sql

from commands.chain import GENESIS, Expectation, Resume, Row, Verification, walk
from commands.eventstore.names import EVENT_HASHES, EVENTS, ledger_table
from commands.seals import Seals


def export_lines(
    conn: Connection[Any], mapper: Mapper[UUID], after: int = 0, progress: Callable[[int], None] | None = None
) -> Iterator[str]:
    table = ledger_table(EVENT_HASHES)
    query = sql.SQL(
        "SELECT e.notification_id, e.originator_id, e.originator_version, e.topic, e.state, h.hash, h.seal"
        " FROM {} e LEFT JOIN {} h USING (notification_id)"
        " WHERE e.notification_id > %s ORDER BY e.notification_id"
    ).format(ledger_table(EVENTS), table)
    with conn.transaction():
        before = conn.execute(
            sql.SQL("SELECT hash FROM {} WHERE notification_id <= %s ORDER BY notification_id DESC LIMIT 1").format(
                table
            ),
            (after,),
        ).fetchone()
        previous: bytes | None = bytes(before[0]) if before else GENESIS
        with conn.cursor(name="export_ledger") as cur:
            cur.itersize = 5000
            cur.execute(query, (after,))
            for position, stream_id, version, topic, state, digest, seal in cur:
                stored = bytes(state)
                line: dict[str, Any] = {
                    "position": position,
                    "stream_id": str(stream_id),
                    "version": version,
                    "type": topic.rsplit(":", 1)[-1],
                    "topic": topic,
                    "hash": bytes(digest).hex() if digest else None,
                    "seal": bytes(seal).hex() if seal else None,
                    "state": base64.b64encode(stored).decode(),
                    "event": decoded(mapper, StoredEvent(stream_id, version, topic, stored)),
                }
                if previous is not None:
                    line["previous"] = previous.hex()
                    previous = None
                if progress is not None:
                    progress(position)
                yield json.dumps(line, default=str) + "\n"


def decoded(mapper: Mapper[UUID], stored: StoredEvent) -> dict[str, Any]:
    """The event's fields as the export shows them (JSON, with anything else as text)."""
    event = mapper.to_domain_event(stored)
    fields = {k: v for k, v in vars(event).items() if k not in ("originator_id", "originator_version")}
    loaded: dict[str, Any] = json.loads(json.dumps(fields, default=str))
    return loaded


class ExportProblem(ValueError):
    """A line of an export that is not what the export writes."""

    def __init__(self, line: int, problem: str, position: int | None = None) -> None:
        super().__init__(f"line {line}: {problem}")
        self.line, self.problem, self.position = line, problem, position


def verify_export(
    lines: Iterable[str],
    mapper: Mapper[UUID],
    expectations: Iterable[Expectation] = (),
    seals: Seals | None = None,
) -> Verification:
    """Recompute the chain over an export's stored bytes (see ``commands.chain.walk``); a decoded
    form that differs from its bytes, or a line that cannot be read, breaks it there."""
    expected = list(expectations)
    reader = _Reader(iter(lines), mapper)
    first = reader.peek()
    start = None
    if first is not None and first.get("previous") not in (None, GENESIS.hex()):
        if any(e.position is not None for e in expected):
            return Verification(
                False,
                0,
                None,
                reader.peeked_position,
                "the export starts after the first event: a checkpoint needs an export of the whole ledger",
            )
        start = Resume(0, bytes.fromhex(first["previous"]), 0, bytes(32))
    result = walk(reader.rows(), expected, seals, start)
    if reader.problem is not None:  # the walk stopped there, having found nothing before it
        return Verification(False, result.events, result.head, reader.problem.position, str(reader.problem))
    return result


class _Reader:
    """An export's lines as chain rows, stopping at the first one that is not what the export writes."""

    def __init__(self, lines: Iterator[str], mapper: Mapper[UUID]) -> None:
        self.lines = enumerate(lines, start=1)
        self.mapper = mapper
        self.problem: ExportProblem | None = None
        self._peeked: tuple[int, dict[str, Any]] | None = None
        self.peeked_position: int | None = None

    def peek(self) -> dict[str, Any] | None:
        for number, text in self.lines:
            if not text.strip():
                continue
            try:
                line = json.loads(text)
                self.peeked_position = int(line["position"])
            except (ValueError, KeyError, TypeError) as error:
                self.problem = ExportProblem(number, f"not an export line ({error!r})")
                return None
            self._peeked = (number, line)
            return line if isinstance(line, dict) else None
        return None

    def rows(self) -> Iterator[Row]:
        if self._peeked is not None:
            number, line = self._peeked
            self._peeked = None
            row = self._row(number, line)
            if row is None:
                return
            yield row
        for number, text in self.lines:
            if not text.strip():
                continue
            try:
                line = json.loads(text)
            except ValueError as error:
                self.problem = ExportProblem(number, f"not an export line ({error})")
                return
            row = self._row(number, line)
            if row is None:
                return
            yield row

    def _row(self, number: int, line: Any) -> Row | None:
        try:
            position, stored, row = _parse(line)
        except (ValueError, KeyError, TypeError, binascii.Error) as error:
            self.problem = ExportProblem(number, f"not an export line ({error!r})")
            return None
        try:
            same = decoded(self.mapper, stored) == line["event"]
        except Exception as error:  # noqa: BLE001 - any failure to decode is the finding
            self.problem = ExportProblem(number, f"its stored bytes do not decode ({error})", position)
            return None
        if not same:
            self.problem = ExportProblem(number, "its decoded event does not match its stored bytes (edited)", position)
            return None
        return row


def _parse(line: dict[str, Any]) -> tuple[int, StoredEvent, Row]:
    position = int(line["position"])
    event = StoredEvent(
        UUID(line["stream_id"]),
        int(line["version"]),
        str(line["topic"]),
        base64.b64decode(line["state"], validate=True),
    )
    stored = bytes.fromhex(line["hash"]) if line.get("hash") else None
    seal = bytes.fromhex(line["seal"]) if line.get("seal") else None
    stream = UUID(line["stream_id"])
    return position, event, (position, stream, event.originator_version, event.topic, event.state, stored, seal)
