"""What a pupil's token may do, checked before any route runs.

A pupil's token acts as the class's account, so that the capture and sync routes work for a
class exactly as for a sentinel. This middleware keeps it to that: the routes a pupil needs to
record an outing and read the class's own data, and the public reference data; everything else
(exports, review, accounts, other users' data) answers 403 — an allow-list, so that a route
added later is closed to pupils until someone decides otherwise. Every request also checks that
the pupil and the class are still there and open: closing the class refuses every token at once.
"""

from __future__ import annotations

import re
import uuid

import anyio.to_thread
from sqlalchemy import select
from sqlmodel import col
from starlette.types import ASGIApp, Receive, Scope, Send

from app.accounts.models import User
from app.classes.models import Pupil, SchoolClass
from app.core.db import Database
from app.core.errors import problem_response
from app.core.security import CURRENT_PUPIL, PUPIL_SCOPE, decode_access_token
from app.core.settings import Settings
from app.core.vocabulary import Role

_ID = r"[^/]+"
# (method, path after /api/v1): what a pupil's tablet needs.
PUPIL_ROUTES = [
    (method, re.compile(rf"^/api/v1{path}$"))
    for method, path in (
        ("POST", "/observations"),
        ("POST", "/observations/batch"),
        ("GET", "/observations"),
        ("GET", f"/observations/{_ID}"),
        ("POST", f"/observations/{_ID}/photos"),
        ("GET", f"/photos/{_ID}"),
        ("GET", f"/photos/{_ID}/(small|large)"),
        ("POST", "/sites"),
        ("GET", "/sites"),
        ("GET", f"/sites/{_ID}"),
        ("POST", f"/sites/{_ID}/visits"),
        ("GET", f"/sites/{_ID}/visits"),
        ("GET", f"/sites/{_ID}/yearly"),
        ("POST", "/visits/batch"),
        ("GET", "/visits"),
        ("GET", f"/visits/{_ID}"),
        ("GET", f"/classes/{_ID}/summary(\\.html|\\.svg)?"),
        # A shared tablet still holding one pupil's token lets the next pupil join.
        ("POST", "/classes/join"),
        # Public reference data and statistics: what anyone may read.
        ("GET", "/species(/.*)?"),
        ("GET", "/zones(/.*)?"),
        ("GET", "/stats/.*"),
    )
]


HEALTH = re.compile(r"^(/api/v1)?/(healthz|readyz)$")


def pupil_may(method: str, path: str) -> bool:
    if method == "HEAD":
        method = "GET"
    if method == "GET" and HEALTH.match(path):
        return True
    return any(m == method and pattern.match(path) for m, pattern in PUPIL_ROUTES)


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token:
                return token.strip()
    return None


def _active(db: Database, pupil_id: uuid.UUID, class_id: uuid.UUID) -> bool:
    with db.session() as session:
        row = session.execute(
            select(col(Pupil.id))
            .join(SchoolClass, col(SchoolClass.id) == col(Pupil.class_id))
            .join(User, col(User.id) == col(SchoolClass.account_id))
            .where(
                col(Pupil.id) == pupil_id,
                col(Pupil.class_id) == class_id,
                col(Pupil.erased_at).is_(None),
                col(SchoolClass.active).is_(True),
                # A class account given another role by hand would lend it to its pupils.
                col(User.role) == Role.sentinel.value,
            )
        ).first()
        return row is not None


class PupilScope:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = _bearer(scope)
        if token is None:
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        settings: Settings = state.settings
        claims = decode_access_token(token, settings)
        if claims is None or claims.get("scope") != PUPIL_SCOPE:
            await self.app(scope, receive, send)  # the routes answer for other tokens
            return
        if not pupil_may(scope["method"], scope["path"]):
            response = problem_response(
                403,
                "auth.pupil_not_allowed",
                "A pupil's token records observations and visits for the class and reads the "
                "class's own data; it cannot do this.",
            )
            await response(scope, receive, send)
            return
        try:
            pupil_id, class_id = uuid.UUID(claims["pupil"]), uuid.UUID(claims["cls"])
        except (KeyError, ValueError):
            active = False
        else:
            active = await anyio.to_thread.run_sync(_active, state.db, pupil_id, class_id)
        if not active:
            response = problem_response(
                401,
                "auth.pupil_revoked",
                "The class is closed or the pupil is no longer part of it.",
                headers={"WWW-Authenticate": "Bearer"},
            )
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["pupil_id"] = pupil_id
        scope["state"]["class_id"] = class_id
        reset = CURRENT_PUPIL.set((pupil_id, class_id))
        try:
            await self.app(scope, receive, send)
        finally:
            CURRENT_PUPIL.reset(reset)
