"""``/exports``: the filters of ``GET /api/v1/exports/*``, how many observations the file will
hold (``app.exports.rows.count_observations`` under the exports' own filters), and the files
themselves, streamed by ``app.exports.service.export`` as the API streams them, with the
cookie session (a link sends no bearer header). Below them, the open-data snapshot that
``GET /api/v1/open-data`` serves to anyone, and a button that publishes a new one
(``app.exports.publish``, as ``sentinelles publish`` does)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from sqlmodel import Session, col, select

from app.core.deps import SessionDep, SettingsDep
from app.core.errors import AppError
from app.exports import dwca, publish, service
from app.exports.rows import count_observations, export_filters
from app.exports.service import ExportFormat
from app.observations.models import Observation, ObservationStatus
from app.observations.schemas import ObservationFilters
from app.species.models import Species
from app.web.auth import CSRF, EcologistPage, viewer
from app.web.templating import render
from app.zones import service as zones_service

router = APIRouter(include_in_schema=False)

STATUS_LABELS = {
    ObservationStatus.validated.value: "Validées",
    ObservationStatus.pending.value: "À valider",
    ObservationStatus.needs_info.value: "Informations demandées",
    ObservationStatus.rejected.value: "Refusées",
}
MAX_SPECIES_CHOICES = 1000


@dataclass
class Choice:
    """The filters as the form sent them, each checked; ``errors`` by field, in French."""

    year: str = ""
    status: str = ObservationStatus.validated.value
    zone_id: str = ""
    species_id: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    def filters(self) -> ObservationFilters:
        year = int(self.year) if self.year and "year" not in self.errors else None
        return ObservationFilters(
            species_id=uuid.UUID(self.species_id)
            if self.species_id and "species_id" not in self.errors
            else None,
            zone_id=uuid.UUID(self.zone_id)
            if self.zone_id and "zone_id" not in self.errors
            else None,
            status=ObservationStatus(self.status),
            year=year,
        )

    def query(self, **extra: str) -> str:
        params = {
            "year": self.year,
            "status": self.status,
            "zone_id": self.zone_id,
            "species_id": self.species_id,
            **extra,
        }
        return urlencode({k: v for k, v in params.items() if v})


def _uuid_ok(raw: str) -> bool:
    try:
        uuid.UUID(raw)
    except ValueError:
        return False
    return True


def read_choice(year: str, status: str, zone_id: str, species_id: str) -> Choice:
    choice = Choice(year=year.strip(), zone_id=zone_id, species_id=species_id)
    if status in STATUS_LABELS:
        choice.status = status
    elif status:
        choice.errors["status"] = "Choisissez un statut de la liste."
    if choice.year and (not choice.year.isdigit() or not 1900 <= int(choice.year) <= 2100):
        choice.errors["year"] = "Indiquez une année entre 1900 et 2100 (par exemple 2026)."
    if zone_id and not _uuid_ok(zone_id):
        choice.errors["zone_id"] = "Choisissez une zone de la liste."
    if species_id and not _uuid_ok(species_id):
        choice.errors["species_id"] = "Choisissez une espèce de la liste."
    return choice


def _observed_species(session: Session) -> list[Species]:
    """The species that have observations: the choices of the species filter."""
    ids = select(Observation.species_id).where(col(Observation.deleted_at).is_(None)).distinct()
    rows = session.exec(
        select(Species).where(col(Species.id).in_(ids)).limit(MAX_SPECIES_CHOICES)
    ).all()
    return sorted(rows, key=lambda s: (s.vernacular_name or s.scientific_name).casefold())


FORMATS: tuple[tuple[str, str, str, dict[str, str]], ...] = (
    ("observations.csv", "CSV", "tableur, virgules", {}),
    (
        "observations.csv",
        "CSV pour Excel",
        "points-virgules, virgule décimale",
        {"dialect": "excel-fr"},
    ),
    ("observations.geojson", "GeoJSON", "pour QGIS", {}),
    ("dwca.zip", "Darwin Core Archive", "pour le GBIF (ZIP)", {}),
    ("sinp.csv", "SINP", "format Occtax de GeoNature", {}),
)


OPEN_DATA_LABELS = {
    "dwca.zip": ("Darwin Core Archive", "pour le GBIF : visites, observations, photos"),
    "observations.csv": ("CSV", "les observations, pour un tableur"),
    "observations.geojson": ("GeoJSON", "les observations, pour QGIS"),
}


def _open_data(settings: SettingsDep) -> dict[str, object]:
    """The current snapshot as the page shows it, and what would keep a new one from being
    published."""
    snapshot = publish.current(settings)
    files = []
    if snapshot is not None:
        for f in snapshot.files:
            label, detail = OPEN_DATA_LABELS.get(f.name, (f.name, ""))
            files.append(
                {
                    "href": f"/api/v1/open-data/{f.name}",
                    "label": label,
                    "detail": detail,
                    "records": f.records,
                    "size_kib": f.size / 1024,
                }
            )
    licence = snapshot.licence if snapshot else ""
    short = next((code for code, (url, _) in dwca.LICENCES.items() if url == licence), licence)
    return {
        "snapshot": snapshot,
        "licence": {"code": short.replace("-", " "), "url": licence},
        "generated": dt.datetime.fromisoformat(snapshot.generated_at) if snapshot else None,
        "files": files,
        "blocked": bool(publish.problems(settings)),
        "rebuild_hours": settings.open_data_rebuild_hours,
    }


@router.get("/exports")
def exports_page(
    request: Request,
    user: EcologistPage,
    session: SessionDep,
    settings: SettingsDep,
    year: Annotated[str, Query(max_length=100)] = "",
    status: Annotated[str, Query(max_length=100)] = "",
    zone_id: Annotated[str, Query(max_length=100)] = "",
    species_id: Annotated[str, Query(max_length=100)] = "",
    publiee: Annotated[str, Query(max_length=10)] = "",
) -> Response:
    return _page(
        request,
        session,
        settings,
        read_choice(year, status, zone_id, species_id),
        user=user,
        published=publiee == "1",
    )


def _page(
    request: Request,
    session: Session,
    settings: SettingsDep,
    choice: Choice,
    *,
    user: EcologistPage,
    published: bool = False,
    publish_error: str | None = None,
    status_code: int | None = None,
) -> Response:
    rows = None
    if not choice.errors:
        rows = count_observations(
            request.app.state.db, viewer=viewer(user), filters=export_filters(choice.filters())
        )
    downloads = [
        {
            "href": f"/exports/{path}?{choice.query(**extra)}".rstrip("?"),
            "label": label,
            "detail": detail,
        }
        for path, label, detail, extra in FORMATS
    ]
    return render(
        request,
        "exports/page.html",
        {
            "choice": choice,
            "rows": rows,
            "statuses": STATUS_LABELS,
            "zones": zones_service.list_zones(session),
            "species": _observed_species(session),
            "downloads": downloads,
            "this_year": dt.date.today().year,
            "open_data": _open_data(settings),
            "published": published,
            "publish_error": publish_error,
        },
        status_code=status_code or (422 if choice.errors else 200),
    )


@router.post("/exports/publish", dependencies=[CSRF])
def publish_page(
    request: Request, user: EcologistPage, session: SessionDep, settings: SettingsDep
) -> Response:
    """Publishes a new snapshot, then shows it (303 to the page); a refusal (the placeholder
    contact, a build already running) is said on the page, in French, with a 409."""
    try:
        publish.publish(request.app.state.db, settings)
    except AppError as exc:
        from app.web.router import french_message

        message = french_message(exc.code, exc.detail)
        return _page(
            request, session, settings, Choice(), user=user, publish_error=message, status_code=409
        )
    return RedirectResponse("/exports?publiee=1#donnees-ouvertes", status_code=303)


def _stream(
    kind: ExportFormat,
    request: Request,
    user: EcologistPage,
    settings: SettingsDep,
    choice: Choice,
    dialect: str = "rfc4180",
) -> Response:
    if choice.errors:
        from app.web.router import error_page

        return error_page(request, 422, "Filtres incorrects", " ".join(choice.errors.values()))
    export = service.export(
        kind,
        request.app.state.db,
        settings,
        viewer=viewer(user),
        filters=choice.filters(),
        base_url=str(request.base_url).rstrip("/"),
        dialect=dialect,
    )
    return StreamingResponse(
        export.pieces,
        media_type=export.media_type,
        headers={"Content-Disposition": f'attachment; filename="{export.filename}"'},
    )


YearQuery = Annotated[str, Query(max_length=100)]
TextQuery = Annotated[str, Query(max_length=100)]


@router.get("/exports/observations.csv")
def export_csv(
    request: Request,
    user: EcologistPage,
    settings: SettingsDep,
    year: YearQuery = "",
    status: TextQuery = "",
    zone_id: TextQuery = "",
    species_id: TextQuery = "",
    dialect: TextQuery = "rfc4180",
) -> Response:
    choice = read_choice(year, status, zone_id, species_id)
    chosen = "excel-fr" if dialect == "excel-fr" else "rfc4180"
    return _stream(ExportFormat.csv, request, user, settings, choice, chosen)


def _file_route(kind: ExportFormat, path: str) -> None:
    def endpoint(
        request: Request,
        user: EcologistPage,
        settings: SettingsDep,
        year: YearQuery = "",
        status: TextQuery = "",
        zone_id: TextQuery = "",
        species_id: TextQuery = "",
    ) -> Response:
        choice = read_choice(year, status, zone_id, species_id)
        return _stream(kind, request, user, settings, choice)

    router.add_api_route(path, endpoint, methods=["GET"], name=f"page_export_{kind.value}")


_file_route(ExportFormat.geojson, "/exports/observations.geojson")
_file_route(ExportFormat.dwca, "/exports/dwca.zip")
_file_route(ExportFormat.sinp, "/exports/sinp.csv")
