"""Logging for the long-running commands: one handler on the root logger, text or JSON.

JSON lines (``OMS_LOG_FORMAT=json``) carry the standard fields (time, level, logger, message)
and whatever a record was given as ``extra``: the request line of ``api.middleware.Observe``
adds request_id, method, route, status, duration_ms, actor, command and result.
"""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

from api.settings import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def formatter(kind: str) -> logging.Formatter:
    if kind == "json":
        return JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    return logging.Formatter(TEXT_FORMAT)


def configure(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(settings.log_format))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):  # uvicorn's own loggers go to the root's handler
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
