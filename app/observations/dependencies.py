"""Load-or-refuse dependencies, so that no route repeats a 404 or 403 check.

An observation the caller may not see answers 404 like one that does not exist: its existence
(a rare species' nest, say) is itself information.
"""

from __future__ import annotations

import math
import re
import uuid
from typing import Annotated

from fastapi import Depends, Path, Query
from sqlmodel import Session, col, select

from app.accounts.dependencies import CurrentViewer, OptionalViewer
from app.classes.models import SchoolClass
from app.core.deps import SessionDep
from app.core.errors import FieldError, Forbidden, NotFound, Unprocessable
from app.core.pagination import UpdatedSinceQuery, parse_updated_since
from app.core.viewer import Viewer, is_staff
from app.core.vocabulary import Role
from app.observations import service
from app.observations.models import Observation, ObservationStatus
from app.observations.schemas import BBox, ObservationFilters
from app.observations.visibility import can_see


def _not_found() -> NotFound:
    return NotFound("No such observation.", code="observation.not_found")


def valid_observation_id(
    session: SessionDep,
    observation_id: Annotated[uuid.UUID, Path(description="The observation's server id.")],
) -> Observation:
    observation = service.get_observation(session, observation_id)
    if observation is None:
        raise _not_found()
    return observation


ValidObservation = Annotated[Observation, Depends(valid_observation_id)]


def visible_observation(viewer: OptionalViewer, observation: ValidObservation) -> Observation:
    if not can_see(viewer, observation):
        raise _not_found()
    return observation


VisibleObservation = Annotated[Observation, Depends(visible_observation)]


def _refuse(user: Viewer, observation: Observation, detail: str) -> Forbidden | NotFound:
    """403 to whoever may see the observation, 404 to anyone else."""
    if can_see(user, observation):
        return Forbidden(detail, code="observation.not_observer")
    return _not_found()


def _teaches(session: Session, user: Viewer, observer_id: uuid.UUID) -> bool:
    """``user`` is the teacher of a class observing as ``observer_id``: they correct and
    delete the class's observations."""
    if user.role != Role.teacher.value:
        return False
    return (
        session.exec(
            select(SchoolClass.id).where(
                col(SchoolClass.account_id) == observer_id, col(SchoolClass.teacher_id) == user.id
            )
        ).first()
        is not None
    )


def owned_observation(
    user: CurrentViewer, observation: ValidObservation, session: SessionDep
) -> Observation:
    """The caller's own observation (only its observer edits it, or for a class, its
    teacher)."""
    if observation.observer_id != user.id and not _teaches(session, user, observation.observer_id):
        raise _refuse(user, observation, "Only its observer may change this observation.")
    return observation


OwnedObservation = Annotated[Observation, Depends(owned_observation)]


def removable_observation(
    user: CurrentViewer, observation: ValidObservation, session: SessionDep
) -> Observation:
    """The caller's own observation, or any for an ecologist or admin (or a class's, for its
    teacher)."""
    if (
        observation.observer_id != user.id
        and not is_staff(user)
        and not _teaches(session, user, observation.observer_id)
    ):
        raise _refuse(user, observation, "Only its observer or an ecologist may delete this.")
    return observation


RemovableObservation = Annotated[Observation, Depends(removable_observation)]


_DECIMAL = r"-?[0-9]+(\.[0-9]+)?"
BBOX_PATTERN = rf"^{_DECIMAL},{_DECIMAL},{_DECIMAL},{_DECIMAL}$"
"""What the document states ``bbox`` is: four plain decimal numbers (no exponent, no space)."""


def _invalid(field: str, message: str, code: str) -> Unprocessable:
    return Unprocessable(
        f"{field}: {message}",
        code=code,
        errors=[FieldError(field=field, message=message, code=code)],
    )


def parse_bbox(raw: str) -> BBox:
    """``minlon,minlat,maxlon,maxlat`` in WGS 84 degrees, or a 422 naming ``bbox``."""
    parts = raw.split(",")
    code = "request.invalid_bbox"
    if len(parts) != 4 or not re.fullmatch(BBOX_PATTERN, raw):
        raise _invalid("bbox", "Give four numbers: minlon,minlat,maxlon,maxlat.", code)
    try:
        min_lon, min_lat, max_lon, max_lat = (float(p) for p in parts)
    except ValueError:
        raise _invalid("bbox", "Give four numbers: minlon,minlat,maxlon,maxlat.", code) from None
    if not all(math.isfinite(v) for v in (min_lon, min_lat, max_lon, max_lat)):
        raise _invalid("bbox", "The corners must be finite numbers.", code)
    if not (-180 <= min_lon <= 180 and -180 <= max_lon <= 180):
        raise _invalid("bbox", "Longitudes must lie in [-180, 180].", code)
    if not (-90 <= min_lat <= 90 and -90 <= max_lat <= 90):
        raise _invalid("bbox", "Latitudes must lie in [-90, 90].", code)
    if min_lon > max_lon or min_lat > max_lat:
        raise _invalid("bbox", "The minimum corner must come before the maximum corner.", code)
    return BBox(min_lon=min_lon, min_lat=min_lat, max_lon=max_lon, max_lat=max_lat)


def observation_filters(
    mine: Annotated[
        bool, Query(description="Only the caller's own observations (needs a signed-in user).")
    ] = False,
    species_id: Annotated[uuid.UUID | None, Query()] = None,
    zone_id: Annotated[uuid.UUID | None, Query()] = None,
    status: Annotated[ObservationStatus | None, Query()] = None,
    year: Annotated[
        int | None, Query(ge=1900, le=2100, description="Year of `observed_at` (UTC).")
    ] = None,
    updated_since: UpdatedSinceQuery = None,
    bbox: Annotated[
        str | None,
        Query(
            max_length=200,
            description="`minlon,minlat,maxlon,maxlat` (WGS 84), as decimal numbers.",
            examples=["2.70,50.40,2.85,50.50"],
            # Stated, and checked by parse_bbox with its own code rather than by the framework.
            json_schema_extra={"pattern": BBOX_PATTERN},
        ),
    ] = None,
) -> ObservationFilters:
    return ObservationFilters(
        mine=mine,
        species_id=species_id,
        zone_id=zone_id,
        status=status,
        year=year,
        updated_since=parse_updated_since(updated_since) if updated_since is not None else None,
        bbox=parse_bbox(bbox) if bbox is not None else None,
    )


ObservationFiltersDep = Annotated[ObservationFilters, Depends(observation_filters)]
