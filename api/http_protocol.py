"""uvicorn's httptools protocol with limits on a request's head.

uvicorn bounds neither how long a client may take to send a request's headers nor how
large they may be: a connection that sends half a header stays open for ever, and
200 KB of headers are read and kept. Both are cheap ways to hold a server's memory and
sockets. This protocol closes a connection whose head is not complete within
``head_seconds`` of its first byte (or of connecting), and answers ``431`` to a head
larger than ``max_head_bytes``. The body is limited elsewhere (``api.middleware``).
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class GuardedHttpTools(HttpToolsProtocol):
    # Set once per process from settings (``create_app``), before the server accepts connections.
    max_head_bytes: ClassVar[int] = 16 * 1024
    head_seconds: ClassVar[float] = 10.0

    @classmethod
    def limit(cls, max_head_bytes: int, head_seconds: float) -> None:
        cls.max_head_bytes, cls.head_seconds = max_head_bytes, head_seconds

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._head_bytes = 0
        self._head_too_large = False
        self._head_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_done()
        super().connection_lost(exc)

    def _await_head(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.head_seconds, self._head_timed_out)

    def _head_done(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.logger.info("closed a connection whose request head took over %.0f s", self.head_seconds)
            self.transport.close()

    def on_message_begin(self) -> None:
        self._head_bytes = 0
        super().on_message_begin()
        self._await_head()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._head_done()
        super().on_headers_complete()

    def _count(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > self.max_head_bytes:
            self._head_too_large = True
            # The parser turns this into an HttpParserError; send_400_response answers it.
            raise ValueError("request head too large")

    def send_400_response(self, msg: str) -> None:
        if not self._head_too_large:
            super().send_400_response(msg)
            return
        self._head_done()
        body = f"request head larger than {self.max_head_bytes} bytes".encode()
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: text/plain; charset=utf-8\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body
        )
        self.transport.close()
