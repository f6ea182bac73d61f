"""``/me/observations`` and ``/me``: a resident's own sightings (status, the CPIE's comment,
photos) and their account: download everything held about them, delete the account.

The list is ``GET /api/v1/observations?mine=true`` (``list_observations`` with the account as
viewer); the export and the deletion are ``app.privacy``'s, in the same three steps as
``POST /api/v1/me/delete`` (the password verified with no transaction open, each wrong one
counted by the account's throttle). Photos are served here with the cookie, after the same
visibility check as ``/api/v1/photos/{id}/small``.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session, col, select

from app.accounts import service as accounts
from app.accounts.throttle import PersistentFailure
from app.core.db import run_unit_of_work
from app.core.deps import SessionDep, SettingsDep
from app.core.errors import NotFound, TooManyRequests
from app.core.security import run_password_work
from app.media.dependencies import StorageDep
from app.media.models import PhotoVariant
from app.observations import photos as photos_service
from app.observations.schemas import ObservationFilters
from app.observations.service import list_observations
from app.observations.visibility import can_see
from app.privacy import service as privacy
from app.species.models import Species
from app.web.auth import CSRF, LoginRequired, SignedIn, load_page_user, viewer
from app.web.session import end_session, read_session
from app.web.templating import render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 20
STATUS_WORDS = {
    "pending": "en attente de validation",
    "validated": "validée",
    "rejected": "refusée",
    "needs_info": "précision demandée",
}
DECISION_WORDS = {
    "validated": "Validée",
    "rejected": "Refusée",
    "needs_info": "Précision demandée",
    "pending": "Remise en attente",
}
UNIT_WORDS = {"individuals": ("individu", "individus"), "nests": ("nid", "nids")}


@router.get("/me/observations")
def my_observations(
    request: Request,
    session: SessionDep,
    user: SignedIn,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    page = list_observations(
        session,
        viewer=viewer(user),
        filters=ObservationFilters(mine=True),
        limit=PAGE_SIZE,
        cursor=cursor,
    )
    ids = {o.species_id for o in page.items}
    species = (
        {s.id: s for s in session.exec(select(Species).where(col(Species.id).in_(ids)))}
        if ids
        else {}
    )
    return render(
        request,
        "me/observations.html",
        {
            "items": page.items,
            "species": species,
            "next_cursor": page.next_cursor,
            "first_page": cursor is None,
            "status_words": STATUS_WORDS,
            "decision_words": DECISION_WORDS,
            "unit_words": UNIT_WORDS,
        },
    )


@router.get("/me/photos/{photo_id}/small")
def my_photo(
    photo_id: uuid.UUID, session: SessionDep, storage: StorageDep, user: SignedIn
) -> Response:
    """A thumbnail for the list, to whoever may see its observation (404 otherwise)."""
    found = photos_service.get_photo(session, photo_id)
    if found is None or not can_see(viewer(user), found[1]):
        raise NotFound("No such photo.", code="photo.not_found")
    photo = found[0]
    content = photos_service.read_photo_file(storage, photo, PhotoVariant.small)
    return Response(
        content,
        media_type=photos_service.variant_media_type(photo, PhotoVariant.small),
        headers={"Cache-Control": "private, max-age=3600"},
    )


def _account_page(
    request: Request,
    *,
    error: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request, "me/account.html", {"error": error, "notice": notice}, status_code=status_code
    )


CREDIT_NOTICES = {
    "nom": "C'est noté : les prochaines données ouvertes publiées vous citeront par votre nom.",
    "pseudonyme": "C'est noté : les données ouvertes publiées vous citeront par un pseudonyme "
    "anonyme.",
}


@router.get("/me")
def my_account(
    request: Request,
    user: SignedIn,
    credit: Annotated[str | None, Query(alias="citation", max_length=20)] = None,
) -> Response:
    return _account_page(request, notice=CREDIT_NOTICES.get(credit or ""))


@router.post("/me/citation", dependencies=[CSRF])
def my_credit(
    session: SessionDep,
    user: SignedIn,
    credit_by_name: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """The open-data credit (``PATCH /api/v1/me`` with ``credit_by_name``): a checked box
    sends ``oui``, an unchecked one sends nothing, which is a choice too."""
    chosen = credit_by_name == "oui"
    accounts.update_profile(session, user=user, credit_by_name=chosen)
    return RedirectResponse(f"/me?citation={'nom' if chosen else 'pseudonyme'}", status_code=303)


@router.get("/me/export")
def my_export(session: SessionDep, user: SignedIn) -> Response:
    """``GET /api/v1/me/export``, with the cookie: the same document, as an attachment."""
    export = privacy.export_personal_data(session, user)
    filename = privacy.export_filename(export.exported_at)
    return Response(
        export.model_dump_json(),
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


def _cookie_account(request: Request) -> uuid.UUID:
    """The account the cookie names, without a session of the request's: the deletion's units
    of work open their own (on SQLite, a writing request's session would hold the write lock
    they need), as ``POST /api/v1/me/delete`` does with its token."""
    signed = read_session(request, request.app.state.settings)
    if signed is None:
        raise LoginRequired("/me")
    return signed.user_id


CookieAccount = Annotated[uuid.UUID, Depends(_cookie_account)]


async def _load_for_page(request: Request, user_id: uuid.UUID) -> None:
    """The account for the page's header, read in a unit of work of its own."""

    def load(session: Session) -> None:
        user = load_page_user(request, session)
        if user is None:
            raise LoginRequired("/me")
        session.expunge(user)

    await run_unit_of_work(request, load, read_only=True)


@router.post("/me/delete", dependencies=[CSRF])
async def my_deletion(
    request: Request,
    settings: SettingsDep,
    storage: StorageDep,
    user_id: CookieAccount,
    password: Annotated[str, Form(max_length=4096)] = "",
) -> Response:
    await _load_for_page(request, user_id)
    if not password:
        return _account_page(
            request, error="Indiquez votre mot de passe pour confirmer.", status_code=422
        )
    try:
        attempt = await run_unit_of_work(
            request,
            lambda session: privacy.start_account_deletion(session, user_id=user_id),
            read_only=True,
        )
        verified = await run_password_work(
            privacy.verify_deletion_password, attempt, password, settings
        )
        await run_unit_of_work(
            request,
            lambda session: privacy.delete_account(
                session, settings, storage, attempt, verified=verified
            ),
            commit_on=(PersistentFailure,),
        )
    except privacy.WrongPassword:
        return _account_page(
            request,
            error="Mot de passe incorrect : votre compte n'a pas été supprimé.",
            status_code=401,
        )
    except TooManyRequests as exc:
        seconds = int((exc.headers or {}).get("Retry-After", "60"))
        minutes = max(1, round(seconds / 60))
        return _account_page(
            request,
            error="Trop d'essais infructueux : attendez "
            f"{minutes} minute{'s' if minutes > 1 else ''} avant de réessayer.",
            status_code=429,
        )
    response = RedirectResponse("/me/compte-supprime", status_code=303)
    end_session(response)
    return response


@router.get("/me/compte-supprime")
def account_deleted(request: Request) -> Response:
    """The confirmation, signed out: nothing of the account is left to show."""
    return render(request, "me/deleted.html")
