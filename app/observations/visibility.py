"""Who sees which observation, and at what precision.

One place for the rule every output follows (single reads, lists, GeoJSON, CSV, exports,
statistics by place): an observer sees all of their own observations, staff see everything,
anyone else sees validated ones only; where the species is sensitive, anyone but the observer
and staff gets the centre of the observation's 10 km Lambert-93 cell instead of the point.
The SQL helpers apply the same rule inside queries, bbox included, so that a narrow bounding
box cannot locate a sensitive nest by which rows it returns.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, or_, true
from sqlalchemy.orm import Mapped
from sqlmodel import Session, col

from app.core.settings import Settings
from app.core.viewer import Viewer, is_staff
from app.media.models import ObservationPhoto
from app.media.schemas import PhotoPublic, present_photo
from app.observations.models import CountUnit, Observation, ObservationStatus
from app.observations.schemas import BBox, ObservationPublic
from app.records.schemas import ReviewPublic
from app.species.models import Generalisation, Species
from app.zones.grid import CELL_1KM, CELL_10KM, generalise
from app.zones.index import Area
from app.zones.service import commune_area


@dataclass(frozen=True, slots=True)
class PublicPosition:
    latitude: float
    longitude: float
    accuracy_m: float | None
    generalised: bool


GRID_SIZES = {Generalisation.grid_1km.value: CELL_1KM, Generalisation.grid_10km.value: CELL_10KM}


def public_position(
    *,
    sensitive: bool,
    latitude: float,
    longitude: float,
    accuracy_m: float | None,
    generalisation: str = Generalisation.grid_10km.value,
    commune: Area | None = None,
) -> PublicPosition:
    """The position stored for the public on every write of an observation.

    A sensitive species is shown at the centre of the Lambert-93 cell (1 km or 10 km) holding
    the point, or at the centre of the commune holding it (``commune``, found by the caller);
    a point outside every commune falls back to the 10 km cell rather than being shown.
    """
    if not sensitive:
        return PublicPosition(latitude, longitude, accuracy_m, False)
    if generalisation == Generalisation.commune.value and commune is not None:
        return PublicPosition(commune.latitude, commune.longitude, commune.radius_m, True)
    size = GRID_SIZES.get(generalisation, CELL_10KM)
    lat, lon, accuracy = generalise(latitude, longitude, size)
    return PublicPosition(lat, lon, accuracy, True)


def public_position_of(
    session: Session,
    settings: Settings,
    species: Species,
    *,
    latitude: float,
    longitude: float,
    accuracy_m: float | None,
) -> PublicPosition:
    """:func:`public_position` for ``species``, looking up the commune when it needs one."""
    commune = None
    if species.sensitive and species.generalisation == Generalisation.commune.value:
        commune = commune_area(session, settings, latitude=latitude, longitude=longitude)
    return public_position(
        sensitive=species.sensitive,
        latitude=latitude,
        longitude=longitude,
        accuracy_m=accuracy_m,
        generalisation=species.generalisation,
        commune=commune,
    )


def sees_exact(viewer: Viewer | None, obs: Observation) -> bool:
    """The observer and staff see the exact position of anything they can see."""
    return viewer is not None and (viewer.id == obs.observer_id or is_staff(viewer))


def can_see(viewer: Viewer | None, obs: Observation) -> bool:
    return obs.status == ObservationStatus.validated.value or sees_exact(viewer, obs)


def sees_photo_metadata(viewer: Viewer | None, obs: Observation) -> bool:
    """Only the observer sees what their photos' EXIF said (position, time): not even staff."""
    return viewer is not None and viewer.id == obs.observer_id


def present(
    obs: Observation,
    species: Species,
    viewer: Viewer | None,
    *,
    photos: Sequence[ObservationPhoto] = (),
    reviews: Sequence[ReviewPublic] = (),
) -> ObservationPublic:
    """``obs`` as ``viewer`` may see it, with its ``photos`` (in upload order) and, for its
    observer and staff, its flags and review history; the caller has checked :func:`can_see`."""
    with_exif = sees_photo_metadata(viewer, obs)
    exact = sees_exact(viewer, obs)
    return present_at(
        obs,
        species,
        exact=exact,
        photos=[present_photo(photo, with_exif=with_exif) for photo in photos],
        reviews=reviews if exact else (),
    )


def present_at(
    obs: Observation,
    species: Species,
    *,
    exact: bool,
    photos: Sequence[PhotoPublic] = (),
    reviews: Sequence[ReviewPublic] = (),
) -> ObservationPublic:
    """``obs`` with its exact position, flags and reviews (observer and staff), or with the
    public position and neither.

    A generalised observation's zone is withheld from those who get the public position: a
    commune, let alone a slag heap, says more than a 10 km cell. ``species`` is checked too, so
    that a row written in the instant before its species became sensitive (stored with an exact
    public position) is still blurred here, on the fly, until the recompute reaches it.
    """
    latitude, longitude, accuracy, generalised = (
        (obs.latitude, obs.longitude, obs.accuracy_m, False)
        if exact
        else (obs.public_latitude, obs.public_longitude, obs.public_accuracy_m, obs.generalised)
    )
    if not exact and species.sensitive and not generalised:
        late = public_position(
            sensitive=True,
            latitude=obs.latitude,
            longitude=obs.longitude,
            accuracy_m=obs.accuracy_m,
            generalisation=species.generalisation,
        )
        latitude, longitude, accuracy, generalised = (
            late.latitude,
            late.longitude,
            late.accuracy_m,
            True,
        )
    return ObservationPublic.model_construct(
        id=obs.id,
        client_id=obs.client_id,
        species_id=obs.species_id,
        cd_nom=species.cd_nom,
        observed_at=obs.observed_at,
        latitude=latitude,
        longitude=longitude,
        accuracy_m=accuracy,
        count=obs.count,
        count_unit=CountUnit(obs.count_unit),
        notes=obs.notes,
        zone_id=None if generalised else obs.zone_id,
        status=ObservationStatus(obs.status),
        observer_id=obs.observer_id,
        photos=list(photos),
        created_at=obs.created_at,
        updated_at=obs.updated_at,
        generalised=generalised,
        deleted=obs.deleted_at is not None,
        flags=list(obs.flags or ()) if exact else [],
        reviews=list(reviews) if exact else [],
    )


def visible_clause(viewer: Viewer | None) -> ColumnElement[bool]:
    """SQL for :func:`can_see`."""
    validated = col(Observation.status) == ObservationStatus.validated.value
    if viewer is None:
        return validated
    if is_staff(viewer):
        return true()
    return or_(validated, col(Observation.observer_id) == viewer.id)


def _inside(lat: Mapped[float], lon: Mapped[float], box: BBox) -> ColumnElement[bool]:
    return and_(lat >= box.min_lat, lat <= box.max_lat, lon >= box.min_lon, lon <= box.max_lon)


def zone_clause(viewer: Viewer | None, zone_id: uuid.UUID) -> ColumnElement[bool]:
    """Rows in ``zone_id`` *as this viewer may know it*: a generalised observation is in no
    zone for those who see its public position, so that a zone filter cannot place it."""
    in_zone = col(Observation.zone_id) == zone_id
    if viewer is None:
        return and_(in_zone, col(Observation.generalised).is_(False))
    if is_staff(viewer):
        return in_zone
    mine = col(Observation.observer_id) == viewer.id
    return and_(in_zone, or_(mine, col(Observation.generalised).is_(False)))


def bbox_clause(viewer: Viewer | None, box: BBox) -> ColumnElement[bool]:
    """Rows whose position *as this viewer sees it* lies in ``box``."""
    exact = _inside(col(Observation.latitude), col(Observation.longitude), box)
    public = _inside(col(Observation.public_latitude), col(Observation.public_longitude), box)
    if viewer is None:
        return public
    if is_staff(viewer):
        return exact
    mine = col(Observation.observer_id) == viewer.id
    return or_(and_(mine, exact), and_(~mine, public))
