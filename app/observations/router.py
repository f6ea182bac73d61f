"""Observations over HTTP: the phone app's capture and sync API."""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import APIRouter, Request, Response, status

import app.core.routing  # noqa: F401  (the {name:id} path convertor)
from app.accounts.dependencies import (
    PUPILS_ADMITTED,
    ActingPupil,
    CurrentUser,
    OptionalViewer,
    TokenSubject,
    for_account,
)
from app.core.deps import SessionDep, SettingsDep
from app.core.errors import problem_doc
from app.core.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery
from app.media.dependencies import StorageDep
from app.observations import service
from app.observations.dependencies import (
    ObservationFiltersDep,
    OwnedObservation,
    RemovableObservation,
    VisibleObservation,
)
from app.observations.schemas import (
    BatchResponse,
    ObservationBatch,
    ObservationCreate,
    ObservationPage,
    ObservationPublic,
    ObservationUpdate,
)

router = APIRouter(prefix="/observations", tags=["observations"])


Responses = dict[int | str, dict[str, Any]]

UNAUTHENTICATED: Responses = {401: problem_doc("No valid access token.")}
INVALID: Responses = {422: problem_doc("Invalid input; `errors` names each field at fault.")}
NOT_FOUND: Responses = {404: problem_doc("No such observation, or not one the caller may see.")}


@router.post(
    "",
    dependencies=[PUPILS_ADMITTED],
    status_code=status.HTTP_201_CREATED,
    response_model=ObservationPublic,
    summary="Submit an observation",
    description="Stores an observation made on the phone. Resending the same `client_id` "
    "answers 200 with the observation stored the first time, unchanged (whatever the new "
    "payload says), so a phone may retry freely.",
    responses={
        200: {"model": ObservationPublic, "description": "Already stored (same `client_id`)."},
        **UNAUTHENTICATED,
        **INVALID,
    },
)
async def create_observation(
    data: ObservationCreate,
    observer_id: TokenSubject,
    pupil_id: ActingPupil,
    settings: SettingsDep,
    request: Request,
) -> Response:
    observation, created = await for_account(
        request,
        observer_id,
        lambda session: service.create_observation(
            session, settings, observer_id=observer_id, data=data, pupil_id=pupil_id
        ),
        inline_on_sqlite=True,
    )
    # Serialised here: the model was built by the service from checked values, and FastAPI's
    # second validation of the response would cost the hot path for nothing.
    return Response(
        observation.model_dump_json(),
        status_code=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        media_type="application/json",
    )


@router.post(
    "/batch",
    dependencies=[PUPILS_ADMITTED],
    response_model=BatchResponse,
    summary="Submit up to 500 observations at once",
    description="Each item is checked and stored on its own: valid items are stored even when "
    "others are rejected. `results` answers each item in the order sent: `created`, "
    "`existing` (its `client_id` was stored before, or earlier in the batch: nothing changed) "
    "or `rejected` with its `errors` (field names relative to the item). A body that is not "
    '`{"observations": [...]}` with at most 500 items is refused whole (422).',
    responses={**UNAUTHENTICATED, **INVALID},
)
async def create_batch(
    batch: ObservationBatch,
    observer_id: TokenSubject,
    pupil_id: ActingPupil,
    settings: SettingsDep,
    request: Request,
) -> Response:
    answer = await for_account(
        request,
        observer_id,
        lambda session: service.create_batch(
            session,
            settings,
            observer_id=observer_id,
            items=batch.observations,
            pupil_id=pupil_id,
        ),
    )
    # Serialised here, as for a single POST: FastAPI would validate the 500 results again
    # before serialising them.
    return Response(answer.model_dump_json(), media_type="application/json")


@router.get(
    "",
    dependencies=[PUPILS_ADMITTED],
    response_model=ObservationPage,
    summary="List observations",
    description="Observers see all of their own observations, ecologists and admins see "
    "everything, anyone else (anonymous callers included) validated observations only; "
    "positions of sensitive species are generalised for those who are neither the observer "
    "nor staff, and `bbox` matches the position as the caller sees it.\n\n"
    "**Order**: newest first, by `observed_at` then `id`, descending. With `updated_since` "
    "(phone sync): oldest change first, by `updated_at` then `id`, ascending, listing every "
    "observation changed at or after that time, deleted ones included as tombstones "
    "(`deleted: true`); keep following `next_cursor` until it is null, then remember the "
    "largest `updated_at` seen for the next sync. Without `updated_since`, deleted "
    "observations are never listed. A pupil's token lists the class's observations only, as "
    "if `mine=true`.",
    responses={**UNAUTHENTICATED, **INVALID},
)
def list_observations(
    session: SessionDep,
    viewer: OptionalViewer,
    filters: ObservationFiltersDep,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> ObservationPage:
    if viewer is not None and viewer.is_pupil:
        # A pupil's token acts as the class's account; it reads the class's own sightings, not
        # the town's (the contract: "submit and read the class's observations, nothing else").
        filters = dataclasses.replace(filters, mine=True)
    return service.list_observations(
        session, viewer=viewer, filters=filters, limit=limit, cursor=cursor
    )


@router.get(
    "/{observation_id:id}",
    dependencies=[PUPILS_ADMITTED],
    response_model=ObservationPublic,
    summary="Read one observation",
    responses={**NOT_FOUND, **INVALID},
)
def read_observation(
    session: SessionDep, viewer: OptionalViewer, observation: VisibleObservation
) -> ObservationPublic:
    return service.read_observation(session, observation=observation, viewer=viewer)


@router.patch(
    "/{observation_id:id}",
    response_model=ObservationPublic,
    summary="Correct an observation",
    description="Its observer only, unless it was rejected. Any subset of the fields of a "
    "creation except `client_id`; the zone, public position and flags follow, and a validated "
    "observation goes back to `pending` for another review.",
    responses={
        **UNAUTHENTICATED,
        403: problem_doc("The caller can see the observation but is not its observer."),
        **NOT_FOUND,
        409: problem_doc("The observation was rejected and can no longer be edited."),
        **INVALID,
    },
)
def update_observation(
    data: ObservationUpdate,
    user: CurrentUser,
    observation: OwnedObservation,
    session: SessionDep,
    settings: SettingsDep,
) -> ObservationPublic:
    return service.update_observation(
        session, settings, observation=observation, data=data, editor=user
    )


@router.delete(
    "/{observation_id:id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Delete an observation",
    description="Its observer, an ecologist or an admin. Phones syncing with `updated_since` "
    "see it afterwards as a tombstone (`deleted: true`, no photos); its photos and their "
    "files are removed.",
    responses={
        **UNAUTHENTICATED,
        403: problem_doc("The caller can see the observation but may not delete it."),
        **NOT_FOUND,
    },
)
def delete_observation(
    session: SessionDep, storage: StorageDep, observation: RemovableObservation, user: CurrentUser
) -> Response:
    service.delete_observation(session, storage, observation=observation, actor=user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
