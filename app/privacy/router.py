"""The participant's rights over HTTP: download everything held about them, delete the account.

Both live under ``/me`` because they act on the signed-in account only: no one, admins
included, exports or deletes someone else's account through the API.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from app.accounts.dependencies import CurrentUser, TokenSubject
from app.accounts.throttle import PersistentFailure
from app.core.db import run_unit_of_work
from app.core.deps import SessionDep, SettingsDep
from app.core.errors import problem_doc
from app.core.security import run_password_work
from app.media.dependencies import StorageDep
from app.privacy import service
from app.privacy.schemas import AccountDeletion, PersonalDataExport

router = APIRouter(prefix="/me", tags=["accounts"])

_UNAUTHENTICATED = problem_doc(
    "No valid access token (`auth.unauthenticated`, `auth.invalid_token`)"
)


@router.get(
    "/export",
    response_model=PersonalDataExport,
    summary="Download everything the service holds about the signed-in account",
    description="One JSON document, served as an attachment "
    "(`sentinelles-export-<date>.json`): the account; every observation not deleted, with its "
    "exact position, notes and photos (with what their EXIF said); the sites and visits; the "
    "CPIE's decisions and comments on them (signed `CPIE`, not by the ecologist); and the "
    "changes the audit trail records the account as having made.",
    responses={
        200: {
            "description": "The export.",
            "headers": {
                "Content-Disposition": {
                    "description": 'attachment; filename="sentinelles-export-<date>.json"',
                    "schema": {"type": "string"},
                }
            },
        },
        401: _UNAUTHENTICATED,
    },
)
def export_me(user: CurrentUser, session: SessionDep) -> Response:
    export = service.export_personal_data(session, user)
    filename = service.export_filename(export.exported_at)
    return Response(
        export.model_dump_json(),
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


@router.post(
    "/delete",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Delete the signed-in account (its observations stay, anonymised)",
    description="Needs the account's password again. The account is emptied rather than "
    "removed: its e-mail address, display name and password are erased (the address may be "
    "used to register again), every session ends, site names become `Façade`, `Jardin` or "
    "`Transect`, and photos lose what their metadata said and their original files. "
    "Observations, visits and sites keep their ids, notes and status, attributed to an "
    "anonymous participant (`Participant anonyme`), so that the survey's series stay whole. "
    "Cannot be undone.",
    responses={
        401: problem_doc(
            "No valid access token (`auth.unauthenticated`, `auth.invalid_token`), or the "
            "password is wrong (`auth.wrong_password`)"
        ),
        409: problem_doc(
            "The account is the only admin left (`account.last_admin`): make another one admin "
            "first"
        ),
        422: problem_doc("No password, or unknown fields"),
        429: problem_doc(
            "Too many wrong passwords for this account (`auth.too_many_attempts`); retry after "
            "`Retry-After` seconds",
            headers={
                "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}
            },
        ),
    },
)
async def delete_me(
    request: Request,
    body: AccountDeletion,
    user_id: TokenSubject,
    settings: SettingsDep,
    storage: StorageDep,
) -> Response:
    """A read-only look-up, the password verified in a worker thread with no transaction open,
    then the deletion (see ``service.start_account_deletion``)."""
    attempt = await run_unit_of_work(
        request,
        lambda session: service.start_account_deletion(session, user_id=user_id),
        read_only=True,
    )
    verified = await run_password_work(
        service.verify_deletion_password, attempt, body.password, settings
    )
    await run_unit_of_work(
        request,
        lambda session: service.delete_account(
            session, settings, storage, attempt, verified=verified
        ),
        commit_on=(PersistentFailure,),
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
