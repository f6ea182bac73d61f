"""Survey sites and visits over HTTP: the protocols' capture and sync API."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

import app.core.routing  # noqa: F401  (the {name:id} path convertor)
from app.accounts.dependencies import PUPILS_ADMITTED, CurrentUser, CurrentViewer
from app.core.deps import SessionDep, SettingsDep
from app.core.errors import problem_doc
from app.core.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery
from app.records.schemas import BatchResponse
from app.surveys import presenting, site_values, sites, visits
from app.surveys.batch import add_visits
from app.surveys.dependencies import (
    CountableSite,
    OwnedSite,
    OwnedVisit,
    RemovableSite,
    RemovableVisit,
    SiteFiltersDep,
    VisibleSite,
    VisibleVisit,
    VisitFiltersDep,
)
from app.surveys.schemas import (
    SiteCreate,
    SitePage,
    SitePublic,
    SiteUpdate,
    VisitBatch,
    VisitCreate,
    VisitPage,
    VisitPublic,
    VisitUpdate,
    YearlyResponse,
)

sites_router = APIRouter(prefix="/sites", tags=["sites and visits"])
visits_router = APIRouter(prefix="/visits", tags=["sites and visits"])

Responses = dict[int | str, dict[str, Any]]

UNAUTHENTICATED: Responses = {401: problem_doc("No valid access token.")}
INVALID: Responses = {422: problem_doc("Invalid input; `errors` names each field at fault.")}
SITE_NOT_FOUND: Responses = {404: problem_doc("No such site, or not one the caller may see.")}
VISIT_NOT_FOUND: Responses = {404: problem_doc("No such visit, or not one the caller may see.")}

SYNC_ORDER = (
    "**Order**: newest first. With `updated_since` (phone sync): oldest change first, by "
    "`updated_at` then `id`, listing everything changed at or after that time, deleted ones "
    "included as tombstones (`deleted: true`); follow `next_cursor` until it is null, then "
    "remember the largest `updated_at` seen for the next sync."
)


def _created_or_existing(model: SitePublic | VisitPublic, created: bool) -> Response:
    return Response(
        model.model_dump_json(),
        status_code=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        media_type="application/json",
    )


# --- sites -----------------------------------------------------------------------------------


@sites_router.post(
    "",
    dependencies=[PUPILS_ADMITTED],
    status_code=status.HTTP_201_CREATED,
    response_model=SitePublic,
    summary="Register a survey site",
    description="A façade with swallow or swift nests (`nest_site`, a point), a garden or school "
    "yard for the butterfly count (`garden`, a point and optionally a GeoJSON Polygon) or a "
    "walked line (`transect`, a GeoJSON LineString). The zone is found from the point. "
    "Resending the same `client_id` answers 200 with the site stored the first time, "
    "unchanged.",
    responses={
        200: {"model": SitePublic, "description": "Already stored (same `client_id`)."},
        **UNAUTHENTICATED,
        **INVALID,
    },
)
def create_site(
    data: SiteCreate, user: CurrentViewer, session: SessionDep, settings: SettingsDep
) -> Response:
    site, created = sites.create_site(
        session, settings, owner_id=user.id, data=data, class_id=user.class_id
    )
    return _created_or_existing(site, created)


@sites_router.get(
    "",
    dependencies=[PUPILS_ADMITTED],
    response_model=SitePage,
    summary="List survey sites",
    description="A sentinel sees their own sites; ecologists and admins see every site "
    "(`mine=true` narrows to their own). Sites are never public: a garden is a home.\n\n"
    + SYNC_ORDER,
    responses={**UNAUTHENTICATED, **INVALID},
)
def list_sites(
    session: SessionDep,
    user: CurrentViewer,
    filters: SiteFiltersDep,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> SitePage:
    return sites.list_sites(session, viewer=user, filters=filters, limit=limit, cursor=cursor)


@sites_router.get(
    "/{site_id}",
    dependencies=[PUPILS_ADMITTED],
    response_model=SitePublic,
    summary="Read one site",
    responses={**UNAUTHENTICATED, **SITE_NOT_FOUND, **INVALID},
)
def read_site(site: VisibleSite) -> SitePublic:
    return presenting.present_site(site)


@sites_router.patch(
    "/{site_id}",
    response_model=SitePublic,
    summary="Correct a site",
    description="Its owner only: `name`, `latitude`, `longitude`, `geometry`; the zone follows "
    "the point. The kind never changes.",
    responses={
        **UNAUTHENTICATED,
        403: problem_doc("The caller can see the site but does not own it."),
        **SITE_NOT_FOUND,
        **INVALID,
    },
)
def update_site(
    data: SiteUpdate, site: OwnedSite, session: SessionDep, settings: SettingsDep
) -> SitePublic:
    return sites.update_site(session, settings, site=site, data=data)


@sites_router.delete(
    "/{site_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Delete a site",
    description="Its owner, an ecologist or an admin. The site and its visits become "
    "tombstones for syncing phones.",
    responses={**UNAUTHENTICATED, **SITE_NOT_FOUND},
)
def delete_site(site: RemovableSite, session: SessionDep) -> Response:
    sites.delete_site(session, site=site)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@sites_router.post(
    "/{site_id}/visits",
    dependencies=[PUPILS_ADMITTED],
    status_code=status.HTTP_201_CREATED,
    response_model=VisitPublic,
    summary="Record a visit to a site",
    description="The site's owner (or staff). `counts` carries, at a `nest_site`, per species "
    "the numbers of nests `occupied`, `unoccupied` and `destroyed` and whether they are nest "
    "boxes (`artificial`); at a `garden` or `transect`, per species the largest number seen "
    "at the same time (`count`). A visit outside the protocol's season (nests: April–August; "
    "butterflies: March–October) is stored with the flag `out_of_season`. Resending the same "
    "`client_id` answers 200 with the stored visit, unchanged.",
    responses={
        200: {"model": VisitPublic, "description": "Already stored (same `client_id`)."},
        **UNAUTHENTICATED,
        403: problem_doc("The caller can see the site but may not count at it."),
        **SITE_NOT_FOUND,
        **INVALID,
    },
)
def create_visit(
    data: VisitCreate,
    site: CountableSite,
    user: CurrentViewer,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    visit, created = visits.add_visit(
        session, settings, site=site, observer_id=user.id, data=data, pupil_id=user.pupil_id
    )
    return _created_or_existing(visit, created)


@sites_router.get(
    "/{site_id}/visits",
    dependencies=[PUPILS_ADMITTED],
    response_model=VisitPage,
    summary="List a site's visits",
    description=SYNC_ORDER,
    responses={**UNAUTHENTICATED, **SITE_NOT_FOUND, **INVALID},
)
def list_site_visits(
    site: VisibleSite,
    session: SessionDep,
    user: CurrentViewer,
    filters: VisitFiltersDep,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> VisitPage:
    return visits.list_visits(
        session,
        viewer=user,
        filters=dataclasses.replace(filters, site_id=site.id),
        limit=limit,
        cursor=cursor,
    )


@sites_router.get(
    "/{site_id}/yearly",
    dependencies=[PUPILS_ADMITTED],
    response_model=YearlyResponse,
    summary="A site's yearly values",
    description="Per year and species, by the protocol's rule, never a sum of visits:\n"
    "- `nest_site`: the largest number of occupied nests over the year's visits (natural "
    "nests and nest boxes of a visit together), `unit: nests`;\n"
    "- `garden`, `transect`: the sum over months of each month's largest count (two visits "
    "in the same month are not added), `unit: individuals`.\n\n"
    "A `complete` visit counts the species it does not list as 0. Years and months are those "
    "of the territory's local time. Every visit but rejected ones counts here, so that the "
    "owner sees a count as soon as it is synced; the statistics count validated visits "
    "only. Ordered by year, then species.",
    responses={**UNAUTHENTICATED, **SITE_NOT_FOUND},
)
def read_site_yearly(site: VisibleSite, session: SessionDep, settings: SettingsDep) -> Any:
    return site_values.site_yearly(session, settings, site=site)


# --- visits ----------------------------------------------------------------------------------


@visits_router.post(
    "/batch",
    dependencies=[PUPILS_ADMITTED],
    response_model=BatchResponse,
    summary="Submit up to 500 visits at once",
    description="Each item is a visit as for `POST /sites/{id}/visits` plus its site: "
    "`site_id`, or `site_client_id` (the `client_id` of one of the caller's own sites, so "
    "that a site created offline and its first visits sync in one go: send the site first). "
    "Each item is checked and stored on its own; `results` answers each in the order sent: "
    "`created`, `existing` (nothing changed) or `rejected` with its `errors`.",
    responses={**UNAUTHENTICATED, **INVALID},
)
def create_visits(
    batch: VisitBatch, user: CurrentViewer, session: SessionDep, settings: SettingsDep
) -> BatchResponse:
    return add_visits(session, settings, observer=user, items=batch.visits)


@visits_router.get(
    "",
    dependencies=[PUPILS_ADMITTED],
    response_model=VisitPage,
    summary="List visits",
    description="The visits at the caller's sites and those they made; every visit for "
    "ecologists and admins. For a phone, one sync of every visit.\n\n" + SYNC_ORDER,
    responses={**UNAUTHENTICATED, **INVALID},
)
def list_visits(
    session: SessionDep,
    user: CurrentViewer,
    filters: VisitFiltersDep,
    site_id: Annotated[uuid.UUID | None, Query(description="Only this site's visits.")] = None,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> VisitPage:
    return visits.list_visits(
        session,
        viewer=user,
        filters=dataclasses.replace(filters, site_id=site_id),
        limit=limit,
        cursor=cursor,
    )


@visits_router.get(
    "/{visit_id:id}",
    dependencies=[PUPILS_ADMITTED],
    response_model=VisitPublic,
    summary="Read one visit",
    responses={**UNAUTHENTICATED, **VISIT_NOT_FOUND, **INVALID},
)
def read_visit(found: VisibleVisit, session: SessionDep) -> VisitPublic:
    visit, site = found
    return presenting.read_visit(session, visit=visit, site=site)


@visits_router.patch(
    "/{visit_id:id}",
    response_model=VisitPublic,
    summary="Correct a visit",
    description="Its observer, unless it was rejected. `counts`, when given, replaces the "
    "visit's counts; a validated visit goes back to `pending` for another review.",
    responses={
        **UNAUTHENTICATED,
        403: problem_doc("The caller can see the visit but is not its observer."),
        **VISIT_NOT_FOUND,
        409: problem_doc("The visit was rejected and can no longer be edited."),
        **INVALID,
    },
)
def update_visit(
    data: VisitUpdate,
    found: OwnedVisit,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
) -> VisitPublic:
    visit, site = found
    return visits.update_visit(session, settings, visit=visit, site=site, data=data, editor=user)


@visits_router.delete(
    "/{visit_id:id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Delete a visit",
    description="Its observer, the site's owner, an ecologist or an admin; a tombstone for "
    "syncing phones afterwards.",
    responses={
        **UNAUTHENTICATED,
        403: problem_doc("The caller can see the visit but may not delete it."),
        **VISIT_NOT_FOUND,
    },
)
def delete_visit(found: RemovableVisit, user: CurrentUser, session: SessionDep) -> Response:
    visits.delete_visit(session, visit=found[0], actor=user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
