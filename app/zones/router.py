"""HTTP routes of the survey zones."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

import app.core.routing  # noqa: F401  (the {name:id} path convertor)
from app.accounts.dependencies import PUPILS_ADMITTED, EcologistUser
from app.core.deps import SessionDep
from app.core.errors import problem_doc
from app.zones import service
from app.zones.schemas import ZoneCollection, ZoneFeature, ZoneImport, ZoneImportResult

router = APIRouter(prefix="/zones", tags=["zones"])


class GeoJSONResponse(JSONResponse):
    """GeoJSON's own media type (RFC 7946); it is JSON, so JSON clients read it as is."""

    media_type = "application/geo+json"


@router.get(
    "",
    dependencies=[PUPILS_ADMITTED],
    summary="The survey zones, as a GeoJSON FeatureCollection",
    response_model=ZoneCollection,
    response_class=GeoJSONResponse,
    responses={422: problem_doc("Bad query parameter")},
)
def list_zones(
    session: SessionDep,
    kind: Annotated[
        str | None,
        Query(max_length=32, description="Only zones of this kind.", examples=["commune"]),
    ] = None,
) -> ZoneCollection:
    zones = service.list_zones(session, kind=kind)
    return ZoneCollection(features=[ZoneFeature.from_zone(z) for z in zones])


@router.get(
    "/{zone_id:id}",
    dependencies=[PUPILS_ADMITTED],
    summary="One zone, as a GeoJSON Feature",
    response_model=ZoneFeature,
    response_class=GeoJSONResponse,
    responses={
        404: problem_doc("No zone has this id (`zone.not_found`)"),
        422: problem_doc("The id is not a UUID"),
    },
)
def get_zone(session: SessionDep, zone_id: uuid.UUID) -> ZoneFeature:
    return ZoneFeature.from_zone(service.get_zone(session, zone_id))


@router.post(
    "/import",
    summary="Create or update zones from a GeoJSON FeatureCollection (ecologists)",
    description=(
        "Zones are matched on `code`: an imported code updates its zone's name, kind and "
        "geometry. All or nothing: a 422 `zone.invalid_file` lists every bad feature as "
        "`features[i]` (self-intersecting ring, not a Polygon, missing code, duplicate code, "
        "coordinates outside WGS 84) and stores none. Ecologists and admins only; each zone "
        "created or changed is recorded in the audit trail."
    ),
    response_model=ZoneImportResult,
    responses={
        401: problem_doc("Not signed in"),
        403: problem_doc("Not an ecologist or admin"),
        413: problem_doc("Body too large"),
        422: problem_doc("Not a FeatureCollection, or bad features"),
    },
)
def import_zones(session: SessionDep, user: EcologistUser, body: ZoneImport) -> ZoneImportResult:
    report = service.import_zones(
        session, {"type": body.type, "features": body.features}, actor_id=user.id
    )
    return ZoneImportResult(created=report.created, updated=report.updated, total=report.total)
