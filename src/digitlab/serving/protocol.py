"""uvicorn's HTTP protocol (httptools) with deadlines for slow clients.

uvicorn closes a keep-alive connection that idles between requests, but not one that never finishes its
request: a client that opens a connection and sends nothing, or sends its headers a byte every few seconds
(slowloris), or a body that never ends, holds a connection for ever, and enough of them use up the
worker's connection limit. Here a request's headers must arrive within ``HEADER_SECONDS`` of the connection
opening (or of the request's first byte), and its body within ``BODY_SECONDS`` of its headers; else the
connection is closed. Once a request is whole the app's own time limit applies. ``digitlab serve``'s
--header-timeout and --body-timeout set them, as attributes of the uvicorn Config (which travels to the
worker processes pickled, as a class made on the fly could not).
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEADER_SECONDS = 10.0
BODY_SECONDS = 30.0


class DeadlineProtocol(HttpToolsProtocol):
    def __init__(self, config, *arguments, **options) -> None:
        super().__init__(config, *arguments, **options)
        self.header_seconds = getattr(config, "header_timeout", HEADER_SECONDS)
        self.body_seconds = getattr(config, "body_timeout", BODY_SECONDS)
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_seconds)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._deadline is None:  # a keep-alive connection's next request has begun
            self._arm(self.header_seconds)

    def on_headers_complete(self) -> None:
        self._arm(self.body_seconds)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()
