"""Serves the residents' app: the shell, its manifest, its service worker and its modules.

Every answer carries the app's own Content-Security-Policy: scripts, styles, workers and
requests of this origin only, no inline script, so that nothing injected can read the tokens
the app keeps. The service worker's cache name holds a digest of the static files, so that a
new release replaces the cached shell on the phones at their next visit.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
from functools import cache
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import RedirectResponse, Response

from app.errors_catalogue import catalogue

HERE = Path(__file__).parent
STATIC = HERE / "static"

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; worker-src 'self'; manifest-src 'self'; font-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
# The shell and the worker are checked at each visit (the worker decides what is cached);
# the modules are cached by the worker, the browser checks them with their ETag.
REVALIDATE = "no-cache"

THEME_COLOUR = "#1f5e3b"

router = APIRouter(prefix="/observe", include_in_schema=False)


def _headers(cache_control: str = REVALIDATE) -> dict[str, str]:
    return {"Content-Security-Policy": CSP, "Cache-Control": cache_control}


def static_files() -> list[str]:
    """The app's files, as the worker caches them (paths under ``/observe/static/``)."""
    return sorted(
        path.relative_to(STATIC).as_posix()
        for path in STATIC.rglob("*")
        if path.is_file() and not path.name.startswith(".")
    )


@cache
def _messages_js() -> bytes:
    messages = {code: spec.message for code, spec in sorted(catalogue().items())}
    body = json.dumps(messages, ensure_ascii=False, indent=0)
    header = "// Generated from the error catalogue (docs/errors.md).\n"
    return f"{header}export default {body};\n".encode()


@cache
def version() -> str:
    """A digest of everything the worker caches: a new release, a new cache."""
    digest = hashlib.sha256()
    for name in static_files():
        digest.update(name.encode())
        digest.update((STATIC / name).read_bytes())
    digest.update(_messages_js())
    digest.update((HERE / "shell.html").read_bytes())
    digest.update((HERE / "sw.js").read_bytes())
    return digest.hexdigest()[:16]


@router.get("")
def shell_without_slash() -> Response:
    # The worker's scope is /observe/: the app lives there.
    return RedirectResponse("/observe/", status_code=308, headers=_headers())


@router.get("/")
def shell() -> Response:
    html = (HERE / "shell.html").read_bytes()
    return Response(html, media_type="text/html; charset=utf-8", headers=_headers())


@router.get("/manifest.webmanifest")
def manifest() -> Response:
    body = {
        "name": "Sentinelles – mes observations",
        "short_name": "Sentinelles",
        "description": "Noter hirondelles, martinets et papillons, même sans réseau, "
        "et les envoyer au CPIE.",
        "lang": "fr",
        "dir": "ltr",
        "id": "/observe/",
        "start_url": "/observe/",
        "scope": "/observe/",
        "display": "standalone",
        "orientation": "portrait",
        "background_color": "#ffffff",
        "theme_color": THEME_COLOUR,
        "categories": ["education", "utilities"],
        "icons": [
            {
                "src": f"/observe/static/icons/icon-{size}.png",
                "sizes": f"{size}x{size}",
                "type": "image/png",
                "purpose": "any",
            }
            for size in (192, 512)
        ]
        + [
            {
                "src": "/observe/static/icons/maskable-512.png",
                "sizes": "512x512",
                "type": "image/png",
                "purpose": "maskable",
            }
        ],
    }
    return Response(
        json.dumps(body, ensure_ascii=False).encode(),
        media_type="application/manifest+json",
        headers=_headers(),
    )


@router.get("/sw.js")
def service_worker() -> Response:
    files = ["/observe/", "/observe/manifest.webmanifest", "/observe/messages.js"] + [
        f"/observe/static/{name}" for name in static_files()
    ]
    prelude = f"const VERSION = {json.dumps(version())};\nconst SHELL = {json.dumps(files)};\n"
    body = prelude + (HERE / "sw.js").read_text(encoding="utf-8")
    return Response(
        body.encode(),
        media_type="text/javascript; charset=utf-8",
        headers={**_headers(), "Service-Worker-Allowed": "/observe/"},
    )


@router.get("/messages.js")
def messages() -> Response:
    """The French message of every error code, for the app to show at the field."""
    return Response(_messages_js(), media_type="text/javascript; charset=utf-8", headers=_headers())


@router.get("/static/{name:path}")
def static(name: str) -> Response:
    path = (STATIC / name).resolve()
    if not path.is_file() or not path.is_relative_to(STATIC.resolve()) or name.startswith("."):
        raise HTTPException(status_code=404)
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if path.suffix in (".js", ".mjs"):
        media_type = "text/javascript; charset=utf-8"
    elif path.suffix == ".css":
        media_type = "text/css; charset=utf-8"
    data = path.read_bytes()
    etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
    return Response(data, media_type=media_type, headers={**_headers(), "ETag": etag})
