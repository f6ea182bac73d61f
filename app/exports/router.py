"""``GET /exports/...``: the observations as files for spreadsheets, QGIS, GBIF and the SINP,
streamed as they are read.

For ecologists and admins only, as the contract says: an export names observers next to the
exact positions and times of their garden sightings, which is personal data. Anonymous callers
get 401, sentinels, teachers and class accounts 403 (pupils' tokens are refused before any route
runs, ``app.classes.scope``). Open data for the public is another matter, built for it."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from app.accounts.dependencies import EcologistUser
from app.accounts.models import User
from app.core.deps import SettingsDep
from app.core.errors import problem_doc
from app.core.settings import Settings
from app.core.viewer import Viewer
from app.exports import service
from app.exports.service import ExportFormat
from app.observations.dependencies import ObservationFiltersDep
from app.observations.schemas import ObservationFilters

router = APIRouter(prefix="/exports", tags=["exports"])

VISIBILITY = (
    "For ecologists and admins only (401 without a token, 403 for any other role): it names "
    "observers next to exact positions. Holds what `GET /observations` shows the caller, under "
    "the same filters (`species_id`, `zone_id`, `status`, `year`, `bbox`, `mine`, "
    "`updated_since`), validated observations unless `status` says otherwise, at exact "
    "positions, sensitive species included. Streamed: its size does not bound the server's "
    "memory."
)
RESPONSES: dict[int | str, dict[str, Any]] = {
    401: problem_doc("No bearer token, or one that is invalid or expired."),
    403: problem_doc("The caller is not an ecologist or an admin (`auth.role_required`)."),
    422: problem_doc("A filter is malformed."),
}


def _stream(
    kind: ExportFormat,
    request: Request,
    settings: Settings,
    viewer: User,
    filters: ObservationFilters,
    dialect: str = "rfc4180",
) -> StreamingResponse:
    export = service.export(
        kind,
        request.app.state.db,
        settings,
        viewer=Viewer.of(viewer),
        filters=filters,
        base_url=str(request.base_url).rstrip("/"),
        dialect=dialect,
    )
    return StreamingResponse(
        export.pieces,
        media_type=export.media_type,
        headers={"Content-Disposition": f'attachment; filename="{export.filename}"'},
    )


@router.get(
    "/observations.csv",
    summary="Observations as CSV",
    description="RFC 4180 (comma, CRLF, UTF-8), one row per observation: species (cd_nom, "
    "cd_ref, scientific and French names), date-time (UTC, and the local date and time), "
    "position and accuracy, count and unit, zone, status, observer's pseudonym, photo links "
    "and licences. `dialect=excel-fr` gives what a French spreadsheet opens right with a "
    "double click: semicolons, UTF-8 with a byte-order mark, decimal commas. In both, and in "
    "`/exports/sinp.csv`, a text cell starting with `=`, `+`, `-`, `@`, a tab or a carriage "
    "return gets a leading apostrophe, so that a spreadsheet shows it and runs nothing; numbers "
    "are written as numbers. " + VISIBILITY,
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}, **RESPONSES},
)
def export_csv(
    request: Request,
    settings: SettingsDep,
    viewer: EcologistUser,
    filters: ObservationFiltersDep,
    dialect: Annotated[
        Literal["rfc4180", "excel-fr"], Query(description="`excel-fr` for French spreadsheets.")
    ] = "rfc4180",
) -> StreamingResponse:
    return _stream(ExportFormat.csv, request, settings, viewer, filters, dialect)


def _file_export(
    kind: ExportFormat, path: str, *, summary: str, description: str, media_type: str
) -> None:
    """Declare ``GET /exports/{path}`` for a format that takes nothing but the observation
    filters: the GeoJSON, Darwin Core and SINP files differ only in their words and media type, so
    one endpoint serves them (the CSV, with its `dialect`, is written out above)."""

    def endpoint(
        request: Request,
        settings: SettingsDep,
        viewer: EcologistUser,
        filters: ObservationFiltersDep,
    ) -> StreamingResponse:
        return _stream(kind, request, settings, viewer, filters)

    router.add_api_route(
        path,
        endpoint,
        methods=["GET"],
        name=f"export_{kind.value}",
        summary=summary,
        description=description + VISIBILITY,
        response_class=StreamingResponse,
        responses={200: {"content": {media_type: {}}}, **RESPONSES},
    )


_file_export(
    ExportFormat.geojson,
    "/observations.geojson",
    summary="Observations as GeoJSON",
    description="One RFC 7946 FeatureCollection of points (WGS 84), with the CSV's properties; "
    "opens as it is in QGIS. ",
    media_type="application/geo+json",
)
_file_export(
    ExportFormat.dwca,
    "/dwca.zip",
    summary="Darwin Core Archive (GBIF)",
    description="A Darwin Core Archive with an Event core: the survey protocols' visits "
    "(sampling protocol, effort, the yearly campaign as parent event, the site as location) "
    "and each casual observation as an event of its own; an Occurrence extension with the "
    "counts (a complete visit's zeros as `absent`); `meta.xml`, and `eml.xml` describing the "
    "dataset from the settings. Observers appear by pseudonym only. Visits are those the "
    "caller sees in `GET /sites` (their own; every site for ecologists and admins). ",
    media_type="application/zip",
)
_file_export(
    ExportFormat.sinp,
    "/sinp.csv",
    summary="Observations for the SINP (GeoNature Occtax layout)",
    description="The flat « Occurrences de taxon » layout of GeoNature's Occtax export "
    "(semicolons, UTF-8): `permId`, `statObs`, `nomCite`, `dateDebut`, `dateFin`, `cdNom`, "
    "`cdRef`, `versionTAXREF`, `dSPublique`, `jddMetaId`, `statSource` (`Te`), `obsTech`, "
    "`denbrMin`, `denbrMax`, `objDenbr` (`IND`, nests as `NID`), `typDenbr`, `obsId`, "
    "`detId`, `natObjGeo`, `WKT`, `sensiNiveau`, `diffusionNiveauPrecision`, `dEEFloutage`, "
    "`nivVal` (from the review status). ",
    media_type="text/csv",
)
