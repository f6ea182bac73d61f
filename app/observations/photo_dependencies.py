"""Photos loaded with their observation or refused (404, 403).

A photo follows its observation: whoever may not see the observation gets 404 for its photos,
as for the observation itself.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path

from app.accounts.dependencies import CurrentViewer, OptionalViewer
from app.core.deps import SessionDep
from app.core.errors import Forbidden, NotFound
from app.core.viewer import is_staff
from app.media.models import ObservationPhoto
from app.observations import photos as service
from app.observations.models import Observation
from app.observations.visibility import can_see


@dataclass(frozen=True, slots=True)
class FoundPhoto:
    photo: ObservationPhoto
    observation: Observation


def _not_found() -> NotFound:
    return NotFound("No such photo.", code="photo.not_found")


def valid_photo_id(
    session: SessionDep,
    photo_id: Annotated[uuid.UUID, Path(description="The photo's id.")],
) -> FoundPhoto:
    found = service.get_photo(session, photo_id)
    if found is None:
        raise _not_found()
    return FoundPhoto(photo=found[0], observation=found[1])


ValidPhoto = Annotated[FoundPhoto, Depends(valid_photo_id)]


def visible_photo(viewer: OptionalViewer, found: ValidPhoto) -> FoundPhoto:
    if not can_see(viewer, found.observation):
        raise _not_found()
    return found


VisiblePhoto = Annotated[FoundPhoto, Depends(visible_photo)]


def removable_photo(user: CurrentViewer, found: ValidPhoto) -> FoundPhoto:
    """A photo of the caller's own observation, or any for an ecologist or admin; 403 to others
    who can see it, 404 to anyone else."""
    if found.observation.observer_id != user.id and not is_staff(user):
        if can_see(user, found.observation):
            raise Forbidden(
                "Only the observer or an ecologist may remove this photo.",
                code="photo.not_observer",
            )
        raise _not_found()
    return found


RemovablePhoto = Annotated[FoundPhoto, Depends(removable_photo)]
