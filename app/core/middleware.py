"""Pure ASGI middleware: cheap enough for the ingest hot path.

A request whose framing is broken (a ``Content-Length`` that lies, bytes that are not HTTP) is
answered by uvicorn's HTTP parser (httptools or h11) with a plain-text ``400 Invalid HTTP request
received.`` before any ASGI application is called: no middleware here can make it problem+json,
since no request ever reaches the app. A reverse proxy in front (which a deployment has anyway
for TLS) answers those itself.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import PayloadTooLarge, problem_response


class BodySizeLimit:
    """Refuses bodies over a limit with 413, before they sit whole in memory.

    The declared ``Content-Length`` is checked first; bodies without one (chunked) are counted as
    they stream in, and the read fails as soon as the limit is passed. Some routes (photo
    uploads) have larger limits of their own, given as ``(path regex, bytes)``.
    """

    def __init__(
        self, app: ASGIApp, *, default: int, overrides: Sequence[tuple[str, int]] = ()
    ) -> None:
        self.app = app
        self.default = default
        self.overrides = [(re.compile(p), n) for p, n in overrides]

    def limit_for(self, path: str) -> int:
        for pattern, limit in self.overrides:
            if pattern.search(path):
                return limit
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > limit:
                    response = problem_response(
                        413,
                        "request.too_large",
                        f"The body is {declared} bytes; at most {limit} are accepted here.",
                    )
                    await response(scope, receive, send)
                    return
                break

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(f"The body is larger than the {limit} bytes accepted.")
            return message

        await self.app(scope, limited_receive, send)


class GZipExcept(GZipMiddleware):
    """Starlette's gzip, except for the paths matching ``skip``: streamed exports, whose
    compression would cost the server a core for bytes a client saves to disk (the archive is
    deflated already), and whose size is not bounded by any buffer."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        skip: str,
        minimum_size: int = 500,
        compresslevel: int = 9,
        exclude_content_types: tuple[str, ...] = DEFAULT_EXCLUDED_CONTENT_TYPES,
    ) -> None:
        super().__init__(
            app,
            minimum_size=minimum_size,
            compresslevel=compresslevel,
            exclude_content_types=exclude_content_types,
        )
        self.plain = app
        self.skip = re.compile(skip)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.skip.search(scope["path"]):
            await self.plain(scope, receive, send)
            return
        await super().__call__(scope, receive, send)
