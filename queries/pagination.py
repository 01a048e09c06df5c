"""Opaque cursors: the sort key of the last row of a page."""

from __future__ import annotations

import base64
import json
from typing import Any

from domain.errors import InvalidCommand


def encode(key: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, default=str).encode()).decode().rstrip("=")


def decode(cursor: str, size: int) -> list[Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except ValueError:
        raise InvalidCommand("cursor is not one this API gave out") from None
    if not isinstance(key, list) or len(key) != size or not all(isinstance(k, str) for k in key):
        raise InvalidCommand("cursor is not one this API gave out")
    return key
