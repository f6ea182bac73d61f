"""What a pupil's token may do, checked before any route's own work.

A pupil's token acts as the class's account, so that the capture and sync routes work for a
class exactly as for a sentinel. The routes a pupil needs (recording an outing, reading the
class's own data, the public reference data) say so themselves with the ``PUPILS_ADMITTED``
dependency (``app.accounts.dependencies``); every other route answers 403 to a pupil's token, so
that a route added later is closed to pupils until someone decides otherwise. Every admitted
request also checks that the pupil and the class are still there and open: closing the class
refuses every token at once. The pupil and class are left on ``request.state`` for the viewer
the routes hand to the services.
"""

from __future__ import annotations

import uuid
from typing import Any

import anyio.to_thread
from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlalchemy import select
from sqlmodel import col

from app.accounts.dependencies import admit_pupils
from app.accounts.models import User
from app.classes.models import Pupil, SchoolClass
from app.core.db import Database
from app.core.errors import AppError
from app.core.security import PUPIL_SCOPE, decode_access_token
from app.core.settings import Settings
from app.core.vocabulary import Role


class PupilNotAllowed(AppError):
    status, code, title = 403, "auth.pupil_not_allowed", "Forbidden"

    def __init__(self) -> None:
        super().__init__(
            "A pupil's token records observations and visits for the class and reads the "
            "class's own data; it cannot do this."
        )


class PupilRevoked(AppError):
    status, code, title = 401, "auth.pupil_revoked", "Unauthorized"

    def __init__(self) -> None:
        super().__init__(
            "The class is closed or the pupil is no longer part of it.",
            headers={"WWW-Authenticate": "Bearer"},
        )


# Where a route remembers the answer: the routes never change once the application is built.
_ADMITS = "_sentinelles_admits_pupils"


def _declares(dependant: Dependant) -> bool:
    return any(sub.call is admit_pupils or _declares(sub) for sub in dependant.dependencies)


def admits_pupils(route: APIRoute) -> bool:
    """Whether the route, or a dependency of it, declares ``PUPILS_ADMITTED`` (worked out once
    per route)."""
    known: bool | None = getattr(route, _ADMITS, None)
    if known is None:
        known = _declares(route.dependant)
        setattr(route, _ADMITS, known)
    return known


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
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


def _pupil_of(claims: dict[str, Any]) -> tuple[uuid.UUID, uuid.UUID] | None:
    try:
        return uuid.UUID(claims["pupil"]), uuid.UUID(claims["cls"])
    except (KeyError, ValueError, TypeError):
        return None


async def pupil_gate(request: Request) -> None:
    """The application's first dependency: a pupil's token reaches only the routes that admit
    pupils (403 elsewhere) and only while the pupil and the class are active (401). Other
    tokens, and requests without one, go on to the routes, which answer for them."""
    token = _bearer(request)
    if token is None:
        return
    settings: Settings = request.app.state.settings
    claims = decode_access_token(token, settings)
    if claims is None or claims.get("scope") != PUPIL_SCOPE:
        return
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not admits_pupils(route):
        raise PupilNotAllowed()
    acting = _pupil_of(claims)
    active = acting is not None and await anyio.to_thread.run_sync(
        _active, request.app.state.db, *acting
    )
    if acting is None or not active:
        raise PupilRevoked()
    request.state.pupil_id, request.state.class_id = acting
