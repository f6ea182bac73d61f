"""One rule for the text of every request: nothing a database cannot store.

PostgreSQL refuses the NUL character in ``text`` (psycopg raises ``DataError``) and no UTF-8
database holds a lone UTF-16 surrogate, while SQLite stores both: left alone, such text gives a
500 on one database and different data on the other. ``StorableText`` refuses it at the edge,
for every string of every query, path, JSON body and urlencoded form, before any route runs, with
a 422 naming the field, in the format of the framework's own validation errors.

The check is cheap on the hot path: a JSON body is parsed only when a byte scan finds an escape
that could decode to such a character (``\\u0000`` or ``\\uD800``-``\\uDFFF``); a raw NUL
or control byte is not valid JSON anyway (422 ``request.malformed_json`` from the framework).
Multipart bodies (photo uploads) are streamed through untouched: their file is binary and their
only text field (``licence``) is an enumeration, refused by its own validation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import AppError, FieldError, field_path, problem_response

CODE = "request.unstorable_text"
MESSAGE = "Text may not contain the NUL character or a lone UTF-16 surrogate."

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# In a JSON text, such a character can only come from an escape.
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")
_JSON = re.compile(r"^application/(?:[\w.+-]+\+)?json\b", re.IGNORECASE)
_FORM = "application/x-www-form-urlencoded"


def unstorable(text: str) -> bool:
    """True if ``text`` holds a character no database of the service can store."""
    return _UNSTORABLE.search(text) is not None


def first_unstorable(value: Any, loc: tuple[str | int, ...]) -> tuple[str | int, ...] | None:
    """The location of the first unstorable string (key or value) within a parsed JSON value."""
    if isinstance(value, str):
        return loc if unstorable(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            if unstorable(key):
                return (*loc, key)
            found = first_unstorable(item, (*loc, key))
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = first_unstorable(item, (*loc, index))
            if found is not None:
                return found
    return None


def _first_in_pairs(pairs: list[tuple[str, str]], where: str) -> tuple[str | int, ...] | None:
    for name, value in pairs:
        if unstorable(name) or unstorable(value):
            return (where, name)
    return None


def query_location(query_string: bytes) -> tuple[str | int, ...] | None:
    """The first query parameter holding unstorable text, decoded as Starlette decodes it."""
    if b"%00" not in query_string and b"\x00" not in query_string:
        return None  # percent-decoding with replacement never yields a surrogate
    return _first_in_pairs(
        parse_qsl(query_string.decode("latin-1"), keep_blank_values=True), "query"
    )


def body_location(content_type: str, body: bytes) -> tuple[str | int, ...] | None:
    """The first unstorable string of a JSON or urlencoded body; None for anything else."""
    if _JSON.match(content_type):
        if _SUSPECT_ESCAPE.search(body) is None:
            return None
        try:
            parsed = json.loads(body)
        except ValueError:
            return None  # the route's own parsing answers with the right 422
        return first_unstorable(parsed, ("body",))
    if content_type.lower().startswith(_FORM):
        if b"%00" not in body and b"\x00" not in body:
            return None
        return _first_in_pairs(parse_qsl(body.decode("latin-1"), keep_blank_values=True), "body")
    return None


def _content_type(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return str(value.decode("latin-1"))
    return ""


def _needs_body(content_type: str) -> bool:
    return bool(_JSON.match(content_type)) or content_type.lower().startswith(_FORM)


class StorableText:
    """ASGI middleware applying the rule above to every HTTP request.

    A JSON or urlencoded body is read whole (it is bounded by ``BodySizeLimit``, which sits
    outside) and replayed to the application unchanged; any other body streams through.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loc: tuple[str | int, ...] | None = None
        if unstorable(scope["path"]):
            loc = ("path",)
        if loc is None:
            loc = query_location(scope.get("query_string", b""))
        content_type = _content_type(scope)
        if loc is None and _needs_body(content_type):
            try:
                body, more = await _read_body(receive)
            except AppError as exc:  # the size limit's 413, raised while the body streams in
                response = problem_response(exc.status, exc.code, exc.detail, title=exc.title)
                await response(scope, receive, send)
                return
            loc = body_location(content_type, body)
            if loc is not None and _in_batch_item(scope["path"], loc):
                loc = None  # the route rejects that item alone (``item_errors``)
            receive = _replay(body, more, receive)
        if loc is not None:
            await refusal(loc)(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def _read_body(receive: Receive) -> tuple[bytes, list[Message]]:
    """The whole body, and any non-body message (a disconnect) met while reading it."""
    chunks: list[bytes] = []
    others: list[Message] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            others.append(message)
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks), others


def _replay(body: bytes, others: list[Message], receive: Receive) -> Receive:
    pending: Iterator[Message] = iter(
        [{"type": "http.request", "body": body, "more_body": False}, *others]
    )

    async def replay() -> Message:
        message = next(pending, None)
        return message if message is not None else await receive()

    return replay


def item_errors(item: Any) -> list[FieldError]:
    """The rule above for one item of a batch, located within the item.

    A batch answers item by item ("valid items are stored even when others are rejected"), so
    an item holding such text is rejected on its own rather than refusing the whole batch.
    """
    loc = first_unstorable(item, ())
    if loc is None:
        return []
    return [FieldError(field=field_path(loc) or "body", message=MESSAGE, code=CODE)]


def _in_batch_item(path: str, loc: tuple[str | int, ...]) -> bool:
    """True where the location is within an item of a batch route's list."""
    return path.endswith("/batch") and len(loc) >= 3 and isinstance(loc[2], int)


def refusal(loc: tuple[str | int, ...]) -> JSONResponse:
    """The 422 naming the field, shaped as the framework's validation errors are."""
    field = "path" if loc == ("path",) else field_path(loc)
    return problem_response(
        422,
        CODE,
        f"{field}: {MESSAGE}",
        errors=[FieldError(field=field, message=MESSAGE, code=CODE)],
    )
