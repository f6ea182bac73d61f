"""Observations: capture (single and batch, idempotent on ``client_id``), sync lists, edits.

Capture is the hot path: a phone coming back online may push hundreds of observations, and a
survey day brings many phones at once. A single POST costs a species look-up, the flags' one
look-up of stored neighbours and one INSERT ... RETURNING (the zone and its codes come from an
in-process index, the answer from what was sent); a batch costs one species query, one query
for the ``client_id``s already stored, the flags' few statements (whatever the observer stored:
see ``app.observations.flags``) and one executemany INSERT. Idempotency rests on the unique
``(observer_id, client_id)`` and ``INSERT ... ON CONFLICT DO NOTHING``, so that two copies of
the same request racing each other still store one row.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement
from sqlmodel import Session, col, select

from app.accounts.models import User
from app.audit.models import AuditEntity
from app.audit.service import snapshot
from app.core.db import new_id, new_ids, utcnow
from app.core.errors import FieldError, Unauthorized
from app.core.settings import Settings
from app.core.viewer import Viewer
from app.media.schemas import present_photo
from app.media.storage import Storage
from app.observations import photos as photos_service
from app.observations.flags import Sighting, flags_of
from app.observations.models import (
    CountUnit,
    Observation,
    ObservationStatus,
)
from app.observations.schemas import (
    BatchResponse,
    BatchResult,
    BatchStatus,
    ObservationCreate,
    ObservationFilters,
    ObservationPage,
    ObservationPublic,
    ObservationUpdate,
)
from app.observations.visibility import (
    PublicPosition,
    bbox_clause,
    present,
    present_at,
    public_position_of,
    sees_exact,
    visible_clause,
    zone_clause,
)
from app.records.history import reviews_of
from app.records.lifecycle import (
    Capture,
    audit_update,
    back_to_review,
    client_id_of,
    delete_audited,
    ensure_editable,
    live,
    parse_item,
    raise_for,
    rejected,
)
from app.records.listing import Listing
from app.records.models import ReviewTarget
from app.species import service as species_service
from app.species.models import Species
from app.zones import service as zones_service
from app.zones.index import Place

# The fields the audit trail follows.
AUDITED_FIELDS = (
    "species_id",
    "observed_at",
    "latitude",
    "longitude",
    "accuracy_m",
    "count",
    "count_unit",
    "notes",
    "zone_id",
    "status",
    "flags",
    "deleted_at",
)

# Stored once per (observer_id, client_id).
CAPTURE = Capture(Observation, owner="observer_id", in_flight="observation.client_id_in_flight")

# Newest seen first, or oldest change first for sync; the cursor kinds of earlier versions.
OBSERVATIONS = Listing(Observation, own_time="observed_at", newest_first="o", changes="u")


# --- species ---------------------------------------------------------------------------------


def _species_errors(
    species_id: uuid.UUID | None,
    cd_nom: int | None,
    species: Species | None,
) -> list[FieldError]:
    """Why ``species`` (looked up by ``species_id`` if given, else by ``cd_nom``) does not do."""
    if species_id is None and cd_nom is None:
        return [
            FieldError(
                field="species_id",
                message="Give the species as `species_id` or `cd_nom`.",
                code="observation.species_required",
            )
        ]
    if species is None:
        field = "species_id" if species_id is not None else "cd_nom"
        return [
            FieldError(
                field=field,
                message="No species of the reference has this id.",
                code="observation.unknown_species",
            )
        ]
    if species_id is not None and cd_nom is not None and species.cd_nom != cd_nom:
        return [
            FieldError(
                field="cd_nom",
                message=f"`cd_nom` {cd_nom} is not the species `species_id` names "
                f"({species.cd_nom}).",
                code="observation.species_mismatch",
            )
        ]
    return []


def _resolve_species(
    session: Session, settings: Settings, *, species_id: uuid.UUID | None, cd_nom: int | None
) -> Species:
    """The species a payload names, or a 422 naming the field at fault."""
    species = None
    if species_id is not None or cd_nom is not None:
        species = species_service.resolve_species(
            session,
            settings,
            species_id=species_id,
            cd_nom=None if species_id is not None else cd_nom,
        )
    raise_for(_species_errors(species_id, cd_nom, species))
    assert species is not None
    return species


# --- writing ---------------------------------------------------------------------------------


def _row(
    *,
    observer_id: uuid.UUID,
    pupil_id: uuid.UUID | None,
    data: ObservationCreate,
    species: Species,
    zone_id: uuid.UUID | None,
    public: PublicPosition,
    flags: list[str],
    now: datetime,
    row_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    return {
        "id": new_id() if row_id is None else row_id,
        "client_id": data.client_id,
        "observer_id": observer_id,
        "species_id": species.id,
        "observed_at": data.observed_at,
        "latitude": data.latitude,
        "longitude": data.longitude,
        "accuracy_m": data.accuracy_m,
        "count": data.count,
        "count_unit": data.count_unit.value,
        "notes": data.notes,
        "public_latitude": public.latitude,
        "public_longitude": public.longitude,
        "public_accuracy_m": public.accuracy_m,
        "generalised": public.generalised,
        "zone_id": zone_id,
        "status": ObservationStatus.pending.value,
        "flags": flags,
        "pupil_id": pupil_id,
        "class_checked_at": None,
        "created_at": now,
        "updated_at": now,
        "deleted_at": None,
    }


def _present_new(row: Mapping[str, Any], *, cd_nom: int) -> ObservationPublic:
    """A row just inserted, as its observer sees it (exactly): built from what was sent, so
    that the fast path needs no second query."""
    return ObservationPublic.model_construct(
        id=row["id"],
        client_id=row["client_id"],
        species_id=row["species_id"],
        cd_nom=cd_nom,
        observed_at=row["observed_at"],
        latitude=row["latitude"],
        longitude=row["longitude"],
        accuracy_m=row["accuracy_m"],
        count=row["count"],
        count_unit=CountUnit(row["count_unit"]),
        notes=row["notes"],
        zone_id=row["zone_id"],
        status=ObservationStatus(row["status"]),
        observer_id=row["observer_id"],
        photos=[],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        generalised=False,
        deleted=False,
        flags=row["flags"],
        reviews=[],
    )


def _stored(
    session: Session, *, observer_id: uuid.UUID, client_id: uuid.UUID
) -> tuple[Observation, Species]:
    statement = select(Observation, Species).join(
        Species, col(Species.id) == col(Observation.species_id)
    )
    found: tuple[Observation, Species] = CAPTURE.stored(
        session, statement, owner_id=observer_id, client_id=client_id
    )
    return found


def _sighting(
    observer_id: uuid.UUID, data: ObservationCreate, species: Species, place: Place
) -> Sighting:
    return Sighting(
        observer_id=observer_id,
        species=species,
        observed_at=data.observed_at,
        latitude=data.latitude,
        longitude=data.longitude,
        accuracy_m=data.accuracy_m,
        count=data.count,
        zone_codes=place.codes,
    )


def create_observation(
    session: Session,
    settings: Settings,
    *,
    observer_id: uuid.UUID,
    data: ObservationCreate,
    pupil_id: uuid.UUID | None = None,
) -> tuple[ObservationPublic, bool]:
    """The observation and whether it was created now (False: this ``client_id`` was stored
    before, and the stored observation is returned unchanged, whatever this payload says).
    ``pupil_id``: the pupil of the class whose token sent it (``Viewer.pupil_id``)."""
    species = _resolve_species(session, settings, species_id=data.species_id, cd_nom=data.cd_nom)
    place = zones_service.place(session, settings, latitude=data.latitude, longitude=data.longitude)
    public = public_position_of(
        session,
        settings,
        species,
        latitude=data.latitude,
        longitude=data.longitude,
        accuracy_m=data.accuracy_m,
    )
    flags = flags_of(session, settings, [_sighting(observer_id, data, species, place)])[0]
    row = _row(
        observer_id=observer_id,
        pupil_id=pupil_id,
        data=data,
        species=species,
        zone_id=place.zone_id,
        public=public,
        flags=flags,
        now=utcnow(),
    )
    if CAPTURE.insert_missing(session, [row]):
        return _present_new(row, cd_nom=species.cd_nom), True
    observation, stored_species = _stored(
        session, observer_id=observer_id, client_id=data.client_id
    )
    # The observer sees their own observation exactly, and its photos' metadata.
    photos = photos_service.photos_of(session, observation_id=observation.id)
    presented = present_at(
        observation,
        stored_species,
        exact=True,
        photos=[present_photo(photo, with_exif=True) for photo in photos],
        reviews=reviews_of(session, ReviewTarget.observation, [observation.id])[observation.id],
    )
    return presented, False


_NOT_AN_OBJECT = FieldError(
    field="body",
    message="Each observation must be a JSON object.",
    code="observation.not_an_object",
)


def create_batch(
    session: Session,
    settings: Settings,
    *,
    observer_id: uuid.UUID,
    items: Sequence[Any],
    pupil_id: uuid.UUID | None = None,
) -> BatchResponse:
    """Stores the valid items of a batch; answers for each item, in the order sent (each
    attributed to ``pupil_id`` when a pupil's token sent them).

    An item whose ``client_id`` is already stored (earlier, by a concurrent request, or by an
    earlier item of the same batch) is ``existing`` and changes nothing.
    """
    parsed = [parse_item(ObservationCreate, item, not_an_object=_NOT_AN_OBJECT) for item in items]
    valid = [p for p in parsed if isinstance(p, ObservationCreate)]

    by_id, by_cd_nom = species_service.species_by_keys(
        session,
        settings,
        ids={p.species_id for p in valid if p.species_id is not None},
        cd_noms={p.cd_nom for p in valid if p.cd_nom is not None and p.species_id is None},
    )
    results: list[BatchResult | None] = [None] * len(parsed)
    accepted: list[tuple[int, ObservationCreate, Species]] = []
    for i, (item, p) in enumerate(zip(items, parsed, strict=True)):
        if not isinstance(p, ObservationCreate):
            results[i] = rejected(client_id_of(item), p)
            continue
        species = by_id.get(p.species_id) if p.species_id is not None else None
        if species is None and p.species_id is None and p.cd_nom is not None:
            species = by_cd_nom.get(p.cd_nom)
        errors = _species_errors(p.species_id, p.cd_nom, species)
        if errors or species is None:
            results[i] = rejected(p.client_id, errors)
            continue
        accepted.append((i, p, species))

    stored = CAPTURE.stored_ids(
        session, owner_id=observer_id, client_ids={p.client_id for _, p, _ in accepted}
    )
    fresh: dict[uuid.UUID, tuple[ObservationCreate, Species]] = {}
    for _, p, species in accepted:
        if p.client_id not in stored and p.client_id not in fresh:
            fresh[p.client_id] = (p, species)

    places = zones_service.places(
        session, settings, [(p.latitude, p.longitude) for p, _ in fresh.values()]
    )
    flags = flags_of(
        session,
        settings,
        [
            _sighting(observer_id, p, species, place)
            for (p, species), place in zip(fresh.values(), places, strict=True)
        ],
    )
    ids = new_ids(len(fresh))
    now = utcnow()
    rows = [
        _row(
            observer_id=observer_id,
            pupil_id=pupil_id,
            data=p,
            species=species,
            zone_id=place.zone_id,
            public=public_position_of(
                session,
                settings,
                species,
                latitude=p.latitude,
                longitude=p.longitude,
                accuracy_m=p.accuracy_m,
            ),
            flags=row_flags,
            now=now,
            row_id=id_,
        )
        for (p, species), place, row_flags, id_ in zip(
            fresh.values(), places, flags, ids, strict=True
        )
    ]
    # In client_id order, so that concurrent batches sharing items take their row locks in the
    # same order and wait for each other instead of deadlocking (PostgreSQL).
    rows.sort(key=lambda row: row["client_id"])
    inserted = CAPTURE.insert_missing(session, rows)
    lost = [client_id for client_id in fresh if client_id not in inserted]
    stored.update(CAPTURE.stored_ids(session, owner_id=observer_id, client_ids=lost))

    reported: set[uuid.UUID] = set()
    for i, p, _ in accepted:
        if p.client_id in inserted and p.client_id not in reported:
            reported.add(p.client_id)
            # Built from checked values: pydantic need not validate 500 of them again. Every
            # field is given: a default factory would cost an inspect.signature per result.
            results[i] = BatchResult.model_construct(
                client_id=p.client_id,
                status=BatchStatus.created,
                id=inserted[p.client_id],
                errors=[],
            )
            continue
        stored_id = inserted.get(p.client_id) or stored.get(p.client_id)
        if stored_id is None:
            raise CAPTURE.in_flight_error(batch=True)
        results[i] = BatchResult.model_construct(
            client_id=p.client_id, status=BatchStatus.existing, id=stored_id, errors=[]
        )
    return BatchResponse(results=[r for r in results if r is not None])


def get_observation(session: Session, observation_id: uuid.UUID) -> Observation | None:
    """The observation, None when unknown or deleted."""
    return live(session, Observation, observation_id)


def read_observation(
    session: Session, *, observation: Observation, viewer: Viewer | None
) -> ObservationPublic:
    species = species_service.get_species(session, observation.species_id)
    photos = photos_service.photos_of(session, observation_id=observation.id)
    reviews = reviews_of(session, ReviewTarget.observation, [observation.id])[observation.id]
    return present(observation, species, viewer, photos=photos, reviews=reviews)


def update_observation(
    session: Session,
    settings: Settings,
    *,
    observation: Observation,
    data: ObservationUpdate,
    editor: User,
) -> ObservationPublic:
    """Applies a PATCH of the observer's; the public position, zone, species and flags follow,
    and a validated observation goes back to pending for another review."""
    ensure_editable(observation, kind="An observation", code="observation.not_editable")
    before = snapshot(observation, AUDITED_FIELDS)
    changes = data.model_fields_set
    if changes & {"species_id", "cd_nom"}:
        species = _resolve_species(
            session, settings, species_id=data.species_id, cd_nom=data.cd_nom
        )
        observation.species_id = species.id
    else:
        species = species_service.get_species(session, observation.species_id)
    for name in ("observed_at", "latitude", "longitude", "accuracy_m", "count", "notes"):
        if name in changes:
            setattr(observation, name, getattr(data, name))
    if "count_unit" in changes and data.count_unit is not None:
        observation.count_unit = data.count_unit.value
    zone_codes = None
    if changes & {"latitude", "longitude"}:
        place = zones_service.place(
            session, settings, latitude=observation.latitude, longitude=observation.longitude
        )
        observation.zone_id, zone_codes = place.zone_id, place.codes
    public = public_position_of(
        session,
        settings,
        species,
        latitude=observation.latitude,
        longitude=observation.longitude,
        accuracy_m=observation.accuracy_m,
    )
    observation.public_latitude = public.latitude
    observation.public_longitude = public.longitude
    observation.public_accuracy_m = public.accuracy_m
    observation.generalised = public.generalised
    observation.flags = flags_of(
        session,
        settings,
        [
            Sighting(
                observer_id=observation.observer_id,
                species=species,
                observed_at=observation.observed_at,
                latitude=observation.latitude,
                longitude=observation.longitude,
                accuracy_m=observation.accuracy_m,
                count=observation.count,
                id=observation.id,
                zone_codes=zone_codes,
            )
        ],
    )[0]
    back_to_review(observation)
    audit_update(
        session,
        actor=editor,
        entity=AuditEntity.observation,
        record=observation,
        before=before,
        after=snapshot(observation, AUDITED_FIELDS),
    )
    session.add(observation)
    session.flush()
    photos = photos_service.photos_of(session, observation_id=observation.id)
    reviews = reviews_of(session, ReviewTarget.observation, [observation.id])[observation.id]
    return present(observation, species, Viewer.of(editor), photos=photos, reviews=reviews)


def delete_observation(
    session: Session, storage: Storage, *, observation: Observation, actor: User
) -> None:
    """Soft delete: the row stays, so that phones syncing with ``updated_since`` learn of it.
    Its photos go for good (rows now, files once the deletion is committed)."""
    photos_service.delete_observation_photos(session, storage, observation_id=observation.id)
    delete_audited(session, observation, actor=actor, entity=AuditEntity.observation)


# --- lists -----------------------------------------------------------------------------------


def filter_clauses(
    filters: ObservationFilters, *, viewer: Viewer | None
) -> list[ColumnElement[bool]]:
    """The WHERE of ``GET /observations`` for this viewer (exports take the same filters)."""
    clauses: list[ColumnElement[bool]] = [visible_clause(viewer)]
    clauses.append(OBSERVATIONS.window(filters.updated_since))
    if filters.mine:
        if viewer is None:
            raise Unauthorized("`mine=true` needs a signed-in user.")
        clauses.append(col(Observation.observer_id) == viewer.id)
    if filters.species_id is not None:
        clauses.append(col(Observation.species_id) == filters.species_id)
    if filters.zone_id is not None:
        clauses.append(zone_clause(viewer, filters.zone_id))
    if filters.status is not None:
        clauses.append(col(Observation.status) == filters.status.value)
    if filters.year is not None:
        start = datetime(filters.year, 1, 1, tzinfo=UTC)
        end = datetime(filters.year + 1, 1, 1, tzinfo=UTC)
        clauses.append(col(Observation.observed_at) >= start)
        clauses.append(col(Observation.observed_at) < end)
    if filters.bbox is not None:
        clauses.append(bbox_clause(viewer, filters.bbox))
    return clauses


def list_observations(
    session: Session,
    *,
    viewer: Viewer | None,
    filters: ObservationFilters,
    limit: int,
    cursor: str | None,
) -> ObservationPage:
    """A page of the observations ``viewer`` may see.

    Newest first, by ``(observed_at, id)`` descending. With ``updated_since``, the order is
    the order of changes, ``(updated_at, id)`` ascending, so that a phone resumes its sync
    where it stopped, and deletions are listed as tombstones (``deleted: true``).
    """
    clauses = filter_clauses(filters, viewer=viewer)
    sync = filters.updated_since is not None
    statement = select(Observation, Species).join(
        Species, col(Species.id) == col(Observation.species_id)
    )
    rows, next_cursor = OBSERVATIONS.fetch(
        session, statement, clauses, cursor=cursor, sync=sync, limit=limit
    )
    # The photos of the whole page in one query; deleted observations (tombstones) have none.
    photos = photos_service.photos_by_observation(
        session, [obs.id for obs, _ in rows if obs.deleted_at is None]
    )
    # Review history only where the viewer may read it: their own observations, or any for staff.
    reviews = reviews_of(
        session, ReviewTarget.observation, [obs.id for obs, _ in rows if sees_exact(viewer, obs)]
    )
    items = [
        present(
            obs, species, viewer, photos=photos.get(obs.id, ()), reviews=reviews.get(obs.id, ())
        )
        for obs, species in rows
    ]
    return ObservationPage(items=items, next_cursor=next_cursor)
