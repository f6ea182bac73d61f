"""Security headers on every answer, as a pure ASGI middleware (it is on every request's path:
a header list built once, a few comparisons per answer, no body touched).

- ``X-Content-Type-Options: nosniff``: a browser never runs an upload or a CSV as something else;
- ``Referrer-Policy: no-referrer``: links in the API's pages send nothing of its addresses;
- ``Content-Security-Policy``: the API (``/api/``) may answer with pages of its own (the class
  summary, SVG charts) that load images and inline styles of their own and nothing else: no
  script at all, no framing. The web pages load scripts, styles and pictures from this host
  only, with no inline script (``app.web``): a raster tile host is added only when one is
  configured. The interactive documentation (``/docs``, ``/redoc``) needs its inline start-up
  script; its files are served from here too;
- ``X-Frame-Options: DENY`` for browsers without ``frame-ancestors``;
- ``Strict-Transport-Security`` when the client reached the service over HTTPS (its own
  scheme, or what a trusted proxy says, ``app.core.proxies``).

A header the route set itself is kept.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.proxies import forwarded_https

API_CSP = (
    "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
DOCS_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "font-src 'self' data:; img-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})
API_ROOT_PATHS = frozenset({"/healthz", "/readyz"})  # the probes answer JSON, as the API does


def web_csp(tile_origin: str | None = None) -> str:
    """The pages' policy: everything from this host, no inline script, no framing."""
    images = "'self' data: blob:" + (f" {tile_origin}" if tile_origin else "")
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        f"img-src {images}; font-src 'self'; connect-src 'self'; worker-src 'self'; "
        "manifest-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'self'"
    )


_COMMON = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)


class SecurityHeaders:
    def __init__(
        self,
        app: ASGIApp,
        *,
        trusted_proxies: tuple[str, ...] = (),
        hsts_max_age: int = 0,
        tile_origin: str | None = None,
    ) -> None:
        self.app = app
        self.trusted_proxies = trusted_proxies
        self.api = (*_COMMON, (b"content-security-policy", API_CSP.encode()))
        self.docs = (*_COMMON, (b"content-security-policy", DOCS_CSP.encode()))
        self.web = (*_COMMON, (b"content-security-policy", web_csp(tile_origin).encode()))
        self.hsts = (
            (b"strict-transport-security", f"max-age={hsts_max_age}".encode())
            if hsts_max_age > 0
            else None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        extra: tuple[tuple[bytes, bytes], ...] = (
            self.api
            if path.startswith("/api/") or path in API_ROOT_PATHS
            else self.docs
            if path in DOCS_PATHS
            else self.web
        )
        if self.hsts is not None and self._https(scope):
            extra = (*extra, self.hsts)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in extra if h[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _https(self, scope: Scope) -> bool:
        scheme = str(scope.get("scheme", "http"))
        if scheme == "https" or not self.trusted_proxies:
            return scheme == "https"
        client = scope.get("client")
        proto = None
        for name, value in scope["headers"]:
            if name == b"x-forwarded-proto":
                proto = value.decode("latin-1")
        return forwarded_https(scheme, client[0] if client else None, proto, self.trusted_proxies)
