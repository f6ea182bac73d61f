"""Photos of observations: upload (idempotent on the content), the files served, deletion.

An upload is hashed as it is read, in chunks, so that an oversized file is refused before it is
read further and a retry of the same bytes is answered with the photo stored the first time,
without decoding anything. Decoding takes the memory of the whole picture (a 12-megapixel photo
is ~36 MB decoded, a 50-megapixel one ~150 MB), so at most ``photo_workers`` uploads per process
are decoded and stored at once, whatever the number of uploads in flight.

Files and rows are kept in step with the request's transaction: the files of a new photo are
written before its row and removed again if the row is refused or the transaction rolls back;
the files of a deleted photo are removed once the deletion is committed. A failure in between
(a crash) can leave unreferenced files, never a row without its files.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import logging
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import BinaryIO
from zoneinfo import ZoneInfo

from sqlalchemy import delete, event, func, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Session, col, select

from app.accounts.models import User
from app.core.db import new_id, utcnow
from app.core.errors import AppError, Conflict, NotFound
from app.core.settings import Settings
from app.core.vocabulary import PhotoLicence
from app.media.images import EmptyPhoto, PhotoTooLarge, ProcessedPhoto, process_photo
from app.media.models import ObservationPhoto, PhotoVariant
from app.media.storage import MediaNotFound, Storage
from app.observations.models import Observation, ObservationStatus

log = logging.getLogger("sentinelles.media")

READ_CHUNK = 1024 * 1024
# How long an upload waits for a decoding slot before the client is told to come back.
WORKER_WAIT_SECONDS = 30.0
# EXIF times without an offset are the camera's local time: the survey's territory.
LOCAL_TIME = ZoneInfo("Europe/Paris")
REMOVABLE_STATUSES = frozenset(
    {ObservationStatus.pending.value, ObservationStatus.needs_info.value}
)
ORIGINAL_MEDIA_TYPES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "HEIF": "image/heif",
}
JPEG = "image/jpeg"


class PhotoWorkersBusy(AppError):
    status, code, title = 503, "photo.busy", "Service unavailable"

    def __init__(self) -> None:
        super().__init__(
            "Too many photos are being processed; send this one again shortly.",
            headers={"Retry-After": "5"},
        )


@cache
def _decoding_slots(count: int) -> threading.BoundedSemaphore:
    """The process-wide slots for ``count`` workers (one semaphore per setting's value)."""
    return threading.BoundedSemaphore(count)


@cache
def _decoders(count: int) -> ThreadPoolExecutor:
    """The threads that decode photos, as many as the slots.

    Decoding in whichever request thread runs the upload would let glibc give each of those
    threads (up to the thread pool's 40) an allocator arena of its own, each keeping the freed
    megabytes of the photo it decoded: memory would grow with the uploads in flight, not with
    ``photo_workers`` (measured: +400 MiB for 20 uploads at once, against +250 on a fixed pool;
    docs/performance.md).
    """
    return ThreadPoolExecutor(max_workers=count, thread_name_prefix="photo-decoder")


M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter


def _tune_glibc_malloc() -> None:
    """On glibc, blocks of 1 MiB and more (Pillow allocates pictures in 16 MiB blocks) are
    mapped and unmapped on their own, so a freed picture goes back to the system at once
    instead of staying in an allocator arena (glibc raises that threshold by itself after the
    first large free, and a process that decoded a burst of photos would stay that large)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, 1024 * 1024)
    except (OSError, AttributeError):
        return  # not glibc: its defaults are the platform's business


_tune_glibc_malloc()


def _decode(upload: BinaryIO, settings: Settings) -> ProcessedPhoto:
    upload.seek(0)
    return process_photo(
        upload, max_bytes=settings.max_photo_bytes, max_pixels=settings.max_photo_pixels
    )


# --- storage keys ----------------------------------------------------------------------------


def observation_folder(observation_id: uuid.UUID) -> str:
    return f"photos/{observation_id}"


def photo_folder(observation_id: uuid.UUID, photo_id: uuid.UUID) -> str:
    return f"{observation_folder(observation_id)}/{photo_id}"


def photo_key(observation_id: uuid.UUID, photo_id: uuid.UUID, variant: PhotoVariant) -> str:
    name = "original" if variant is PhotoVariant.original else f"{variant.value}.jpg"
    return f"{photo_folder(observation_id, photo_id)}/{name}"


# --- files follow the transaction ------------------------------------------------------------

_FILE_ACTIONS = "app.media.file_actions"
_LISTENING = "app.media.listening"


@dataclass
class _FileActions:
    on_commit: list[Callable[[], None]] = field(default_factory=list)
    on_rollback: list[Callable[[], None]] = field(default_factory=list)
    committed: bool = False


def _file_actions(session: Session) -> _FileActions:
    actions: _FileActions | None = session.info.get(_FILE_ACTIONS)
    if actions is None:
        actions = session.info[_FILE_ACTIONS] = _FileActions()
        if not session.info.get(_LISTENING):
            event.listen(session, "after_commit", _mark_committed)
            event.listen(session, "after_transaction_end", _run_file_actions)
            session.info[_LISTENING] = True
    return actions


def _mark_committed(session: Session) -> None:
    # Released savepoints fire this too; only the outermost transaction decides.
    actions: _FileActions | None = session.info.get(_FILE_ACTIONS)
    if actions is not None and not session.in_nested_transaction():
        actions.committed = True


def _run_file_actions(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None:
        return
    actions: _FileActions | None = session.info.pop(_FILE_ACTIONS, None)
    if actions is None:
        return
    for action in actions.on_commit if actions.committed else actions.on_rollback:
        try:
            action()
        except Exception:
            # The transaction's outcome stands; at worst files are left unreferenced.
            log.exception("could not remove photo files after the transaction ended")


def _remove_folder(storage: Storage, folder: str) -> Callable[[], None]:
    return lambda: storage.delete_prefix(folder)


# --- reading ---------------------------------------------------------------------------------


def get_photo(session: Session, photo_id: uuid.UUID) -> tuple[ObservationPhoto, Observation] | None:
    """The photo and its observation; None when unknown or its observation is deleted."""
    statement = (
        select(ObservationPhoto, Observation)
        .join(Observation, col(Observation.id) == col(ObservationPhoto.observation_id))
        .where(col(ObservationPhoto.id) == photo_id, col(Observation.deleted_at).is_(None))
    )
    found = session.exec(statement).one_or_none()
    if found is None:
        return None
    return found[0], found[1]


def photos_by_observation(
    session: Session, observation_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, list[ObservationPhoto]]:
    """The photos of these observations in upload order, in one query (for a page of them)."""
    if not observation_ids:
        return {}
    statement = (
        select(ObservationPhoto)
        .where(col(ObservationPhoto.observation_id).in_(list(observation_ids)))
        .order_by(
            col(ObservationPhoto.observation_id),
            col(ObservationPhoto.position),
            col(ObservationPhoto.created_at),
        )
    )
    grouped: dict[uuid.UUID, list[ObservationPhoto]] = defaultdict(list)
    for photo in session.exec(statement):
        grouped[photo.observation_id].append(photo)
    return dict(grouped)


def photos_of(session: Session, *, observation_id: uuid.UUID) -> list[ObservationPhoto]:
    return photos_by_observation(session, [observation_id]).get(observation_id, [])


def variant_etag(photo: ObservationPhoto, variant: PhotoVariant) -> str:
    """The strong ETag of a file: the SHA-256 of its bytes, quoted (the files never change)."""
    digest = {
        PhotoVariant.full: photo.full_sha256,
        PhotoVariant.large: photo.large_sha256,
        PhotoVariant.small: photo.small_sha256,
        PhotoVariant.original: photo.content_hash,
    }[variant]
    return f'"{digest}"'


def variant_media_type(photo: ObservationPhoto, variant: PhotoVariant) -> str:
    if variant is PhotoVariant.original:
        return ORIGINAL_MEDIA_TYPES.get(photo.source_format, "application/octet-stream")
    return photo.media_type


def read_photo_file(storage: Storage, photo: ObservationPhoto, variant: PhotoVariant) -> bytes:
    """The bytes of one file of ``photo``; 404 for an original that was not kept."""
    if variant is PhotoVariant.original and not photo.has_original:
        raise NotFound("The original of this photo was not kept.", code="photo.original_not_kept")
    key = photo_key(photo.observation_id, photo.id, variant)
    try:
        return storage.get(key)
    except MediaNotFound:
        log.error("photo %s has a row but no file under %s", photo.id, key)
        raise NotFound("No such photo.", code="photo.not_found") from None


# --- upload ----------------------------------------------------------------------------------


def hash_upload(upload: BinaryIO, *, max_bytes: int) -> str:
    """The SHA-256 of ``upload`` read from its start, in chunks: 413 as soon as it passes
    ``max_bytes`` (nothing more is read), 415 when empty. Leaves ``upload`` at its start."""
    upload.seek(0)
    digest = hashlib.sha256()
    total = 0
    while True:
        chunk = upload.read(min(READ_CHUNK, max_bytes + 1 - total))
        if not chunk:
            break
        total += len(chunk)
        if total > max_bytes:
            raise PhotoTooLarge(f"The file is larger than the {max_bytes} bytes accepted.")
        digest.update(chunk)
    if total == 0:
        raise EmptyPhoto()
    upload.seek(0)
    return digest.hexdigest()


def _photo_by_hash(
    session: Session, *, observation_id: uuid.UUID, content_hash: str
) -> ObservationPhoto | None:
    statement = select(ObservationPhoto).where(
        col(ObservationPhoto.observation_id) == observation_id,
        col(ObservationPhoto.content_hash) == content_hash,
    )
    return session.exec(statement).first()


def _count_and_next_position(session: Session, *, observation_id: uuid.UUID) -> tuple[int, int]:
    statement = select(
        func.count(col(ObservationPhoto.id)), func.max(col(ObservationPhoto.position))
    ).where(col(ObservationPhoto.observation_id) == observation_id)
    count, last = session.exec(statement).one()
    return int(count or 0), (-1 if last is None else int(last)) + 1


def _limit_reached(settings: Settings) -> Conflict:
    limit = settings.max_photos_per_observation
    return Conflict(
        f"An observation has at most {limit} photos; delete one to add another.",
        code="photo.limit_reached",
    )


def _observation_gone() -> NotFound:
    return NotFound("No such observation.", code="observation.not_found")


def exif_time_in_utc(taken_at: datetime | None) -> datetime | None:
    """An EXIF time in UTC; one without an offset is read as Europe/Paris local time."""
    if taken_at is None:
        return None
    if taken_at.tzinfo is None:
        taken_at = taken_at.replace(tzinfo=LOCAL_TIME)
    return taken_at.astimezone(UTC)


@dataclass(frozen=True)
class _Stored:
    """What the row records of the files written (the bytes themselves are gone by then)."""

    width: int
    height: int
    media_type: str
    source_format: str
    sha256: dict[PhotoVariant, str]
    sizes: dict[PhotoVariant, int]
    has_original: bool
    latitude: float | None
    longitude: float | None
    taken_at: datetime | None

    @classmethod
    def of(cls, processed: ProcessedPhoto, *, has_original: bool) -> _Stored:
        files = {
            PhotoVariant.full: processed.full,
            PhotoVariant.large: processed.large,
            PhotoVariant.small: processed.small,
        }
        return cls(
            width=processed.width,
            height=processed.height,
            media_type=processed.media_type,
            source_format=processed.source_format,
            sha256={v: hashlib.sha256(data).hexdigest() for v, data in files.items()},
            sizes={v: len(data) for v, data in files.items()},
            has_original=has_original,
            latitude=processed.gps_latitude,
            longitude=processed.gps_longitude,
            taken_at=exif_time_in_utc(processed.taken_at),
        )


def _process_and_store(
    settings: Settings,
    storage: Storage,
    *,
    upload: BinaryIO,
    observation_id: uuid.UUID,
    photo_id: uuid.UUID,
) -> _Stored:
    """Decodes the upload and writes its files, in one of the process's decoding slots: the
    decoded picture and the encoded files (and the original's bytes) never exist for more
    uploads at once than there are slots; only their description leaves this function.
    Writes nothing when the upload is refused; removes what it wrote if a write fails."""
    slots = _decoding_slots(settings.photo_workers)
    if not slots.acquire(timeout=WORKER_WAIT_SECONDS):
        raise PhotoWorkersBusy()
    try:
        processed = _decoders(settings.photo_workers).submit(_decode, upload, settings).result()
        files: list[tuple[PhotoVariant, bytes, str]] = [
            (PhotoVariant.full, processed.full, processed.media_type),
            (PhotoVariant.large, processed.large, processed.media_type),
            (PhotoVariant.small, processed.small, processed.media_type),
        ]
        if settings.keep_original_photos:
            upload.seek(0)
            original_type = ORIGINAL_MEDIA_TYPES.get(
                processed.source_format, "application/octet-stream"
            )
            files.append((PhotoVariant.original, upload.read(), original_type))
        try:
            for variant, data, content_type in files:
                storage.put(
                    photo_key(observation_id, photo_id, variant), data, content_type=content_type
                )
        except BaseException:
            _remove_quietly(storage, photo_folder(observation_id, photo_id))
            raise
        return _Stored.of(processed, has_original=settings.keep_original_photos)
    finally:
        slots.release()


def _remove_quietly(storage: Storage, folder: str) -> None:
    try:
        storage.delete_prefix(folder)
    except Exception:
        log.exception("could not remove the files under %s", folder)


def _insert(
    session: Session,
    settings: Settings,
    *,
    photo: ObservationPhoto,
) -> tuple[ObservationPhoto, bool]:
    """Inserts ``photo`` unless, while it was processed, the same bytes were stored, the
    observation filled up or was deleted. The observation's row is locked first (PostgreSQL;
    SQLite writers take turns anyway), so concurrent uploads to one observation count in
    turn and never pass the limit together."""
    current = session.exec(
        select(Observation.id, Observation.deleted_at)
        .where(col(Observation.id) == photo.observation_id)
        .with_for_update()
    ).one_or_none()
    if current is None or current[1] is not None:
        raise _observation_gone()
    twin = _photo_by_hash(
        session, observation_id=photo.observation_id, content_hash=photo.content_hash
    )
    if twin is not None:
        return twin, False
    count, position = _count_and_next_position(session, observation_id=photo.observation_id)
    if count >= settings.max_photos_per_observation:
        raise _limit_reached(settings)
    photo.position = position
    try:
        with session.begin_nested():
            session.add(photo)
            _touch(session, photo.observation_id, photo.created_at)
    except IntegrityError:
        twin = _photo_by_hash(
            session, observation_id=photo.observation_id, content_hash=photo.content_hash
        )
        if twin is None:
            raise
        return twin, False
    return photo, True


def _touch(session: Session, observation_id: uuid.UUID, at: datetime) -> None:
    """Marks the observation changed: its photos are part of it, and phones syncing with
    ``updated_since`` must learn that they changed."""
    session.exec(
        update(Observation).where(col(Observation.id) == observation_id).values(updated_at=at)
    )


def existing_or_room(
    session: Session, settings: Settings, *, observation: Observation, content_hash: str
) -> ObservationPhoto | None:
    """Before any decoding: the photo already stored with these bytes, else None when the
    observation has room for one more (409 ``photo.limit_reached`` when it has not)."""
    existing = _photo_by_hash(session, observation_id=observation.id, content_hash=content_hash)
    if existing is not None:
        return existing
    count, _ = _count_and_next_position(session, observation_id=observation.id)
    if count >= settings.max_photos_per_observation:
        raise _limit_reached(settings)
    return None


@dataclass(frozen=True)
class StoredUpload:
    """An upload decoded and its files written, not yet attached to its observation."""

    photo_id: uuid.UUID
    observation_id: uuid.UUID
    content_hash: str
    files: _Stored

    @property
    def folder(self) -> str:
        return photo_folder(self.observation_id, self.photo_id)


def store_upload(
    settings: Settings,
    storage: Storage,
    *,
    observation_id: uuid.UUID,
    upload: BinaryIO,
    content_hash: str,
) -> StoredUpload:
    """Decodes ``upload`` and writes its files, with no database work: the slow part of an
    upload (a fifth of a second for a 12-megapixel photo) holds no connection and no lock."""
    photo_id = new_id()
    files = _process_and_store(
        settings, storage, upload=upload, observation_id=observation_id, photo_id=photo_id
    )
    return StoredUpload(
        photo_id=photo_id, observation_id=observation_id, content_hash=content_hash, files=files
    )


def discard_upload(storage: Storage, stored: StoredUpload) -> None:
    """Removes the files of an upload that will not be attached."""
    _remove_quietly(storage, stored.folder)


def attach_upload(
    session: Session,
    storage: Storage,
    settings: Settings,
    *,
    stored: StoredUpload,
    uploader_id: uuid.UUID,
    licence: str | None,
) -> tuple[ObservationPhoto, bool]:
    """Records a stored upload as a photo of its observation; returns it and whether it was
    created now. If, meanwhile, the same bytes were attached, the observation filled up or was
    deleted, the upload's files are removed and the existing photo (or the refusal) is the
    answer. The files also go if the transaction rolls back."""
    files = stored.files
    photo = ObservationPhoto(
        id=stored.photo_id,
        observation_id=stored.observation_id,
        uploader_id=uploader_id,
        content_hash=stored.content_hash,
        full_sha256=files.sha256[PhotoVariant.full],
        large_sha256=files.sha256[PhotoVariant.large],
        small_sha256=files.sha256[PhotoVariant.small],
        width=files.width,
        height=files.height,
        media_type=files.media_type,
        bytes_full=files.sizes[PhotoVariant.full],
        bytes_large=files.sizes[PhotoVariant.large],
        bytes_small=files.sizes[PhotoVariant.small],
        source_format=files.source_format,
        licence=PhotoLicence(licence or _default_licence(session, uploader_id)).value,
        has_original=files.has_original,
        exif_latitude=files.latitude,
        exif_longitude=files.longitude,
        exif_taken_at=files.taken_at,
        created_at=utcnow(),
    )
    try:
        result, created = _insert(session, settings, photo=photo)
    except BaseException:
        discard_upload(storage, stored)
        raise
    if not created:
        discard_upload(storage, stored)
        return result, False
    _file_actions(session).on_rollback.append(_remove_folder(storage, stored.folder))
    return result, True


def add_photo(
    session: Session,
    settings: Settings,
    storage: Storage,
    *,
    observation: Observation,
    uploader_id: uuid.UUID,
    upload: BinaryIO,
    licence: str | None,
) -> tuple[ObservationPhoto, bool]:
    """All of an upload in one session (for scripts and tests; the HTTP route runs the same
    steps with the decoding outside any transaction). Refusals (413, 415, 422 from
    ``app.media.images``; 409 ``photo.limit_reached``) store nothing."""
    content_hash = hash_upload(upload, max_bytes=settings.max_photo_bytes)
    existing = existing_or_room(
        session, settings, observation=observation, content_hash=content_hash
    )
    if existing is not None:
        return existing, False
    stored = store_upload(
        settings, storage, observation_id=observation.id, upload=upload, content_hash=content_hash
    )
    return attach_upload(
        session, storage, settings, stored=stored, uploader_id=uploader_id, licence=licence
    )


def _default_licence(session: Session, user_id: uuid.UUID) -> str:
    user = session.get(User, user_id)
    return user.photo_licence if user is not None else PhotoLicence.cc_by.value


# --- deletion --------------------------------------------------------------------------------


def delete_photo(
    session: Session,
    storage: Storage,
    *,
    photo: ObservationPhoto,
    observation: Observation,
    by_staff: bool,
) -> None:
    """Removes a photo; its files go once the deletion is committed. Its observer may remove
    photos while the observation is pending or needs information, staff at any time."""
    if not by_staff and observation.status not in REMOVABLE_STATUSES:
        raise Conflict(
            f"The observation is {observation.status}: its photos can no longer be removed.",
            code="observation.not_editable",
        )
    session.delete(photo)
    _touch(session, observation.id, utcnow())
    session.flush()
    _file_actions(session).on_commit.append(
        _remove_folder(storage, photo_folder(photo.observation_id, photo.id))
    )


def delete_photos_of_observations(
    session: Session, storage: Storage, *, observation_ids: Collection[uuid.UUID]
) -> int:
    """Removes the photos of these observations (rows now, files once committed); returns how
    many there were. No storage call for observations without photos (most of them)."""
    if not observation_ids:
        return 0
    ids = list(observation_ids)
    with_photos = set(
        session.exec(
            select(ObservationPhoto.observation_id)
            .where(col(ObservationPhoto.observation_id).in_(ids))
            .distinct()
        ).all()
    )
    if not with_photos:
        return 0
    result = session.exec(
        delete(ObservationPhoto).where(col(ObservationPhoto.observation_id).in_(with_photos))
    )
    session.flush()
    actions = _file_actions(session).on_commit
    for observation_id in sorted(with_photos):
        actions.append(_remove_folder(storage, observation_folder(observation_id)))
    return int(result.rowcount or 0)


def delete_observation_photos(
    session: Session, storage: Storage, *, observation_id: uuid.UUID
) -> int:
    return delete_photos_of_observations(session, storage, observation_ids=[observation_id])
