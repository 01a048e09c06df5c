"""HTTP worker processes of ``oms serve --workers N``.

``oms serve`` runs the one writer and listens for commands on a local socket; uvicorn
starts each worker process here, which builds its own container from the same settings
(the database, keys and read pools are its own) with the writer at the socket's other end.
"""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi import FastAPI

from api.app import create_app
from api.bootstrap import Container, build
from api.logs import configure as configure_logging
from api.runtime import tune_gc
from api.settings import Settings
from commands.group_commit import GroupCommitter
from commands.remote import WriterServer


def create_worker_app() -> FastAPI:
    """uvicorn's factory in each worker process."""
    settings = Settings()
    if settings.writer_socket is None or settings.database_url is None:
        raise RuntimeError("an HTTP worker process is started by `oms serve --workers N`, which tells it the writer")
    configure_logging(settings)
    app = create_app(build(settings, run_upgrade=False), close_on_shutdown=True)
    tune_gc()
    return app


@contextmanager
def writer_for_workers(container: Container) -> Iterator[dict[str, str]]:
    """Serve this process's writer on a private socket; yields the settings a worker process needs."""
    writer = container.writer
    if not isinstance(writer, GroupCommitter):
        raise RuntimeError("HTTP worker processes need this process's group commit (OMS_GROUP_COMMIT=true)")
    with tempfile.TemporaryDirectory(prefix="oms-writer-") as folder:  # mode 0700: this user only
        key = secrets.token_bytes(32)
        server = WriterServer(writer, str(Path(folder) / "writer.sock"), key)
        server.start()
        try:
            yield {
                "OMS_WRITER_SOCKET": server.address,
                "OMS_WRITER_KEY": key.hex(),
                "OMS_DATABASE_URL": container.database.url,
            }
        finally:
            server.close()
