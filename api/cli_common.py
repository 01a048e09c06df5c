"""What the ``oms`` commands share: the container, options, and reading or writing (gzipped) files."""

from __future__ import annotations

import gzip
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING, Annotated, Literal, NoReturn, cast

import typer

from api.settings import Settings

if TYPE_CHECKING:
    from api.bootstrap import Container

JsonOption = Annotated[bool, typer.Option("--json", help="One JSON document on standard output.")]


@contextmanager
def open_container() -> Iterator[Container]:
    from api.bootstrap import build
    from commands.signing import BadKey

    try:
        container = build(Settings())
    except BadKey as error:
        refuse_key(error)
    try:
        yield container
    finally:
        container.close()


def stop_on_signals(stop: threading.Event, *signals: signal.Signals) -> Callable[[int, FrameType | None], None]:
    """Set ``stop`` on the first of ``signals``; the handler, installed for each of them.

    Only the first signal sets it. A second one can arrive while the first handler is inside
    ``stop.set()``, holding the event's lock; its handler runs on top of that frame in the same
    thread, and calling ``set()`` again would wait for that lock forever (seen: a webhook worker
    sent SIGTERM by ``oms serve`` and again by its parent-death signal never ended)."""
    fired = False

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal fired
        if fired:
            return
        fired = True
        stop.set()

    for sig in signals:
        signal.signal(sig, handler)
    return handler


def refuse_key(error: Exception) -> NoReturn:
    """The ledger key is set but cannot be read: say which settings, and exit 2."""
    typer.echo(f"the ledger key (OMS_SIGNING_KEY or OMS_SIGNING_KEY_FILE) cannot be used: {error}", err=True)
    raise typer.Exit(2) from None


def open_text(path: Path, mode: Literal["rt", "wt"] = "rt") -> IO[str]:
    """Text, gzip-compressed when the name ends in .gz."""
    if path.suffix == ".gz":
        return gzip.open(path, mode, encoding="utf-8")
    return path.open("r" if mode == "rt" else "w", encoding="utf-8")


def open_bytes(path: Path) -> IO[bytes]:
    """Lines as bytes, so that the import refuses invalid UTF-8 line by line instead of stopping."""
    if path.suffix == ".gz":
        return cast(IO[bytes], gzip.open(path, "rb"))
    return path.open("rb")
