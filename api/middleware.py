"""ASGI middleware: every request observed (id, metrics, a log line), and a limit on body size."""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import problem
from api.metrics import Metrics

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


# W3C Trace Context: version-traceid-parentid-flags; an all-zero trace id is invalid.
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-(?!0{32})([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
access_log = logging.getLogger("oms.access")


def request_id_of(headers: dict[bytes, bytes]) -> str:
    """``X-Request-Id`` if it is sane, else the trace id of a W3C ``traceparent``, else a new one."""
    given = headers.get(b"x-request-id", b"").decode("latin-1")
    if _REQUEST_ID.match(given):
        return given
    trace = _TRACEPARENT.match(headers.get(b"traceparent", b"").decode("latin-1").strip().lower())
    return trace.group(1) if trace else str(uuid.uuid4())


class Observe:
    """Give every request an id (echoed as ``X-Request-Id``, stored as its events' correlation id),
    then count it, time it, and log one line for it.

    The line carries the request id, method, route template, status, duration, and, where the
    request got that far, the actor (the key's role and name, never the key), the command and its
    result code. Routes are templates (``/v1/orders/{order_id}``), so labels stay bounded."""

    def __init__(self, app: ASGIApp, metrics: Metrics, log_requests: bool) -> None:
        self.app, self.metrics, self.log_requests = app, metrics, log_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_of(dict(scope["headers"]))
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"] if template != "unmatched" else "other"
            self.metrics.http_requests.labels(method, template, str(status)).inc()
            self.metrics.http_duration.labels(method, template).observe(seconds)
            if self.log_requests:
                access_log.info(
                    "%s %s %d %.1f ms",
                    scope["method"],
                    template,
                    status,
                    seconds * 1000,
                    extra={
                        "request_id": request_id,
                        "method": scope["method"],
                        "route": template,
                        "status": status,
                        "duration_ms": round(seconds * 1000, 2),
                        "actor": state.get("actor"),
                        "command": state.get("command"),
                        "result": state.get("result", "ok" if status < 400 else None),
                    },
                )


class _TooLarge(Exception):
    pass


class BodyLimit:
    """Refuse bodies over the limit with 413, by Content-Length or as they stream in."""

    def __init__(self, app: ASGIApp, max_bytes: int, max_import_bytes: int, import_path: str = "/v1/import") -> None:
        self.app, self.max_bytes, self.max_import_bytes, self.import_path = (
            app,
            max_bytes,
            max_import_bytes,
            import_path,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_import_bytes if scope["path"] == self.import_path else self.max_bytes
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await self._refuse(scope, receive, send, limit)
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._refuse(scope, receive, send, limit)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = problem(413, "payload_too_large", "Request body too large", f"the limit is {limit} bytes")
        await response(scope, receive, send)
