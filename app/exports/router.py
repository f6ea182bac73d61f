"""``GET /exports/...``: the observations as files for spreadsheets, QGIS, GBIF and the SINP,
streamed as they are read.

For ecologists and admins only, as the contract says: an export names observers next to the
exact positions and times of their garden sightings, which is personal data. Anonymous callers
get 401, sentinels, teachers and class accounts 403 (pupils' tokens are refused before any route
runs, ``app.classes.scope``). Open data for the public is another matter, built for it."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse, StreamingResponse

from app.accounts.dependencies import EcologistUser
from app.accounts.models import User
from app.core.deps import SettingsDep
from app.core.errors import NotFound, problem_doc
from app.core.settings import Settings
from app.core.viewer import Viewer
from app.exports import publish, service
from app.exports.schemas import OpenDataFile, OpenDataSnapshot
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


# --- the open-data snapshot ---------------------------------------------------------------------

open_data_router = APIRouter(prefix="/open-data", tags=["open data"])
OPEN_DATA_FILE = Literal["dwca.zip", "observations.csv", "observations.geojson"]


def _snapshot_answer(snapshot: publish.Snapshot | None, request: Request) -> OpenDataSnapshot:
    if snapshot is None:
        return OpenDataSnapshot(generated_at=None)
    base = str(request.url_for("open_data_file", name="dwca.zip")).rsplit("/", 1)[0]
    return OpenDataSnapshot(
        generated_at=snapshot.generated_at,
        licence=snapshot.licence,
        dataset_id=snapshot.dataset_id,
        files=[OpenDataFile(url=f"{base}/{f.name}", **asdict(f)) for f in snapshot.files],
        warnings=snapshot.warnings,
    )


@router.post(
    "/publish",
    status_code=201,
    summary="Publish the open-data snapshot",
    description="Builds the snapshot `GET /open-data` serves to anyone, from validated data "
    "only: a Darwin Core Archive (Event core with the protocols' visits and the casual "
    "sightings, Occurrence and Simple Multimedia extensions), a CSV and a GeoJSON of the "
    "sightings. Sensitive species and homes (gardens) at their grid cell, with "
    "`informationWithheld`/`dataGeneralizations`; observers by a stable pseudonym, or by their "
    "display name when their account agreed to it (`credit_by_name`). The previous "
    "snapshot is served until the new one is complete. For ecologists and admins; 409 while "
    "the dataset's contact is still the placeholder, or while another build runs. Answers the "
    "new snapshot, as `GET /open-data` will.",
    response_model=OpenDataSnapshot,
    responses={
        401: RESPONSES[401],
        403: RESPONSES[403],
        409: problem_doc(
            "The dataset's contact is a placeholder (`open_data.contact_placeholder`), or a "
            "build runs (`open_data.publish_running`)."
        ),
    },
)
def publish_open_data(
    request: Request, settings: SettingsDep, viewer: EcologistUser
) -> OpenDataSnapshot:
    snapshot = publish.publish(request.app.state.db, settings)
    return _snapshot_answer(snapshot, request)


@open_data_router.get(
    "",
    summary="The open-data snapshot's files",
    description="Anyone, no token: the files of the last published snapshot (`POST "
    "/exports/publish`, `sentinelles publish`) with their size, SHA-256, record count, licence "
    "and date; `generated_at` is null and `files` empty until one is published. Reads no "
    "database.",
    response_model=OpenDataSnapshot,
)
def open_data(request: Request, settings: SettingsDep) -> OpenDataSnapshot:
    return _snapshot_answer(publish.current(settings), request)


@open_data_router.get(
    "/{name}",
    name="open_data_file",
    summary="A file of the open-data snapshot",
    description="Anyone, no token: `dwca.zip`, `observations.csv` or `observations.geojson` "
    "of the current snapshot, served from disk with `ETag` (its SHA-256) and "
    "`Last-Modified`; `If-None-Match` answers 304. 404 before anything is published.",
    response_class=FileResponse,
    responses={
        200: {"content": {t: {} for t in publish.FILES.values()}},
        304: {"description": "Not modified (`If-None-Match` holds the current `ETag`)."},
        404: problem_doc("Nothing published yet (`open_data.not_found`)."),
    },
)
def open_data_file(name: OPEN_DATA_FILE, request: Request, settings: SettingsDep) -> Response:
    snapshot = publish.current(settings)
    published = snapshot.file(name) if snapshot is not None else None
    if snapshot is None or snapshot.directory is None or published is None:
        raise NotFound("Nothing of that name is published yet.", code="open_data.not_found")
    etag = f'"{published.sha256}"'
    headers = {"ETag": etag, "Cache-Control": "public, max-age=300"}
    asked = request.headers.get("if-none-match", "")
    if etag in [tag.strip() for tag in asked.split(",")] or asked.strip() == "*":
        return Response(status_code=304, headers=headers)
    path = snapshot.directory / name
    return FileResponse(
        path,
        media_type=published.media_type,
        filename=f"sentinelles-{name}",
        headers=headers,
        stat_result=path.stat(),
    )
