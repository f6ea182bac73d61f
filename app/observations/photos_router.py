"""Photos over HTTP: upload to an observation, the files (full size, thumbnails), removal.

An upload is decoded in the thread pool, outside any transaction (the event loop and SQLite's
write turn are never held by it); the service bounds how many are decoded at once.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Request, Response, UploadFile, status
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from app.accounts.dependencies import (
    PUPILS_ADMITTED,
    CurrentUser,
    EcologistUser,
    TokenSubject,
)
from app.accounts.service import load_user
from app.core.db import run_unit_of_work
from app.core.deps import SessionDep, SettingsDep
from app.core.errors import problem_doc
from app.core.viewer import Viewer, is_staff
from app.core.vocabulary import Licence
from app.media.dependencies import StorageDep
from app.media.models import ObservationPhoto, PhotoVariant
from app.media.schemas import PhotoPublic, present_photo
from app.observations import photos as service
from app.observations.dependencies import owned_observation, valid_observation_id
from app.observations.models import Observation, ObservationStatus
from app.observations.photo_dependencies import FoundPhoto, RemovablePhoto, VisiblePhoto

router = APIRouter(tags=["photos"])

Responses = dict[int | str, dict[str, Any]]

PUBLIC_CACHE = "public, max-age=31536000, immutable"
PRIVATE_CACHE = "private, max-age=3600"

UNAUTHENTICATED: Responses = {401: problem_doc("No valid access token.")}
PHOTO_NOT_FOUND: Responses = {
    404: problem_doc("No such photo, or not one the caller may see (`photo.not_found`).")
}
_FILE_HEADERS = {
    "ETag": {"description": "The SHA-256 of the file, quoted.", "schema": {"type": "string"}},
    "Cache-Control": {
        "description": f"`{PUBLIC_CACHE}` for a photo of a validated observation (anyone may "
        f"see it), `{PRIVATE_CACHE}` otherwise.",
        "schema": {"type": "string"},
    },
}


def _file_responses(media: str, description: str) -> Responses:
    return {
        200: {"content": {media: {}}, "description": description, "headers": _FILE_HEADERS},
        304: {"description": "`If-None-Match` names the current `ETag`: nothing changed."},
        **PHOTO_NOT_FOUND,
    }


@router.post(
    "/observations/{observation_id}/photos",
    dependencies=[PUPILS_ADMITTED],
    status_code=status.HTTP_201_CREATED,
    response_model=PhotoPublic,
    summary="Add a photo to an observation",
    description="Its observer only; at most 5 photos an observation. The `file` may be JPEG, "
    "PNG, WebP or HEIC/HEIF of at most 20 MB and 50 megapixels, recognised by decoding it "
    "(never by its name or declared type). Everything served is re-encoded as JPEG, upright, "
    "without EXIF, GPS, XMP or comments; the position and time the photo carried are answered "
    "in `exif`, to the observer only. `licence` defaults to the observer's choice "
    "(`PATCH /me`). Uploading the same bytes again answers 200 with the photo stored the first "
    "time.",
    responses={
        200: {"model": PhotoPublic, "description": "Already stored (the same bytes)."},
        **UNAUTHENTICATED,
        403: problem_doc("The caller can see the observation but is not its observer."),
        404: problem_doc("No such observation, or not one the caller may see."),
        409: problem_doc("The observation already has its 5 photos (`photo.limit_reached`)."),
        413: problem_doc("Larger than 20 MB (`photo.too_large`, `request.too_large`)."),
        415: problem_doc("Empty (`photo.empty`) or not an image (`photo.not_an_image`)."),
        422: problem_doc(
            "Damaged or truncated (`photo.undecodable`), more than 50 megapixels "
            "(`photo.too_many_pixels`), unknown licence (`photo.unknown_licence`) or no `file`."
        ),
        503: problem_doc("Too many photos being processed (`photo.busy`); retry shortly."),
    },
)
async def upload_photo(
    observation_id: Annotated[uuid.UUID, Path(description="The observation's server id.")],
    uploader_id: TokenSubject,
    file: Annotated[UploadFile, File(description="The photo: JPEG, PNG, WebP or HEIC/HEIF.")],
    settings: SettingsDep,
    storage: StorageDep,
    request: Request,
    licence: Annotated[Licence | None, Form()] = None,
) -> Response:
    # Three steps, so that decoding (the slow part) holds no connection and no write lock:
    # checks that read, the decoding and the files, then a short write that re-checks.
    def owned(session: Session) -> Observation:
        user = load_user(session, uploader_id)
        return owned_observation(
            Viewer.of(user), valid_observation_id(session, observation_id), session
        )

    content_hash = await run_in_threadpool(
        service.hash_upload, file.file, max_bytes=settings.max_photo_bytes
    )
    existing = await run_unit_of_work(
        request,
        lambda session: service.existing_or_room(
            session, settings, observation=owned(session), content_hash=content_hash
        ),
        read_only=True,
    )
    if existing is None:
        stored = await run_in_threadpool(
            service.store_upload,
            settings,
            storage,
            observation_id=observation_id,
            upload=file.file,
            content_hash=content_hash,
        )

        def attach(session: Session) -> tuple[ObservationPhoto, bool]:
            owned(session)  # again: the observation may have changed while decoding
            return service.attach_upload(
                session, storage, settings, stored=stored, uploader_id=uploader_id, licence=licence
            )

        try:
            photo, created = await run_unit_of_work(request, attach)
        except BaseException:
            service.discard_upload(storage, stored)
            raise
    else:
        photo, created = existing, False
    return Response(
        present_photo(photo, with_exif=True).model_dump_json(),
        status_code=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        media_type="application/json",
    )


def _matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110's weak comparison of ``If-None-Match`` with the file's ETag."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    candidates = (tag.strip().removeprefix("W/") for tag in if_none_match.split(","))
    return etag in candidates


def _serve(
    request: Request, storage: StorageDep, found: FoundPhoto, variant: PhotoVariant
) -> Response:
    photo, observation = found.photo, found.observation
    etag = service.variant_etag(photo, variant)
    public = (
        variant is not PhotoVariant.original
        and observation.status == ObservationStatus.validated.value
    )
    headers = {
        "ETag": etag,
        "Cache-Control": PUBLIC_CACHE if public else PRIVATE_CACHE,
        "X-Content-Type-Options": "nosniff",
    }
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    content = service.read_photo_file(storage, photo, variant)
    return Response(content, media_type=service.variant_media_type(photo, variant), headers=headers)


@router.get(
    "/photos/{photo_id}",
    dependencies=[PUPILS_ADMITTED],
    response_class=Response,
    response_model=None,
    summary="A photo, full size (JPEG)",
    description="Whoever may see its observation: pending, rejected or needs-info "
    "observations' photos are served to their observer and to ecologists and admins only.",
    responses=_file_responses("image/jpeg", "The full-size JPEG, without metadata."),
)
def read_photo(request: Request, storage: StorageDep, found: VisiblePhoto) -> Response:
    return _serve(request, storage, found, PhotoVariant.full)


@router.get(
    "/photos/{photo_id}/large",
    dependencies=[PUPILS_ADMITTED],
    response_class=Response,
    response_model=None,
    summary="A photo, 1600 px on its long side (JPEG)",
    description="As the full size; never larger than it.",
    responses=_file_responses("image/jpeg", "The JPEG, without metadata."),
)
def read_photo_large(request: Request, storage: StorageDep, found: VisiblePhoto) -> Response:
    return _serve(request, storage, found, PhotoVariant.large)


@router.get(
    "/photos/{photo_id}/small",
    dependencies=[PUPILS_ADMITTED],
    response_class=Response,
    response_model=None,
    summary="A photo's thumbnail, 400 px on its long side (JPEG)",
    description="The `thumbnail_url` of a photo; who may see it as for the full size.",
    responses=_file_responses("image/jpeg", "The JPEG, without metadata."),
)
def read_photo_small(request: Request, storage: StorageDep, found: VisiblePhoto) -> Response:
    return _serve(request, storage, found, PhotoVariant.small)


@router.get(
    "/photos/{photo_id}/original",
    response_class=Response,
    response_model=None,
    summary="A photo as uploaded, metadata included (ecologists and admins)",
    description="Only where the deployment keeps originals (`keep_original_photos`), in the "
    "format uploaded, with its EXIF (GPS position included): never cached by shared caches.",
    responses={
        **_file_responses("image/*", "The file as uploaded."),
        **UNAUTHENTICATED,
        403: problem_doc("The caller is neither an ecologist nor an admin."),
        404: problem_doc(
            "No such photo (`photo.not_found`), or its original was not kept "
            "(`photo.original_not_kept`)."
        ),
    },
)
def read_photo_original(
    _staff: EcologistUser, request: Request, storage: StorageDep, found: VisiblePhoto
) -> Response:
    return _serve(request, storage, found, PhotoVariant.original)


@router.delete(
    "/photos/{photo_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Remove a photo",
    description="Its observer while the observation is `pending` or `needs_info`, or an "
    "ecologist or admin at any time. Its files are removed with it.",
    responses={
        **UNAUTHENTICATED,
        403: problem_doc("The caller can see the photo but may not remove it."),
        **PHOTO_NOT_FOUND,
        409: problem_doc(
            "The observation has been reviewed: its observer can no longer remove its photos "
            "(`observation.not_editable`)."
        ),
    },
)
def delete_photo(
    user: CurrentUser, found: RemovablePhoto, session: SessionDep, storage: StorageDep
) -> Response:
    service.delete_photo(
        session,
        storage,
        photo=found.photo,
        observation=found.observation,
        by_staff=is_staff(user),
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
