"""``/baselines``: the inventory baselines imported so far, and the import of a CPIE file
through the same service as ``POST /api/v1/baselines/import``: all or nothing, every bad line
shown with its number, its column and what is wrong, in French.

The route is a plain ``def``: FastAPI runs it in a worker thread, so the import (up to 4 MiB of
CSV) never runs on the event loop, as the API's route makes sure too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import Response

from app.baselines import service
from app.baselines.csvfile import COLUMNS, MAX_FILE_BYTES, BaselineFileError, decode_file
from app.baselines.models import BaselineUnit
from app.core.deps import SessionDep
from app.web.auth import CSRF, EcologistPage
from app.web.species import french
from app.web.templating import render
from app.zones import service as zones_service

router = APIRouter(include_in_schema=False)

UNIT_LABELS = {
    BaselineUnit.individuals.value: "individus",
    BaselineUnit.nests.value: "nids",
    BaselineUnit.presence.value: "présence",
}
COLUMN_LABELS = {
    "year": "year (année)",
    "cd_nom": "cd_nom (espèce)",
    "zone_code": "zone_code (zone)",
    "site_code": "site_code (site)",
    "count": "count (effectif)",
    "unit": "unit (unité)",
    "method": "method (méthode)",
    "source": "source",
}
MAX_SHOWN_ERRORS = 500
TEMPLATE_FILE = "/static/files/inventaire-modele.csv"


def _page(
    request: Request,
    session: SessionDep,
    *,
    status_code: int = 200,
    file_error: str | None = None,
    line_errors: Sequence[Mapping[str, object]] | None = None,
    error_total: int = 0,
    report: service.ImportReport | None = None,
    filename: str = "",
) -> Response:
    rows = service.list_baselines(session)
    zones = {z.id: z.name for z in zones_service.list_zones(session)}
    return render(
        request,
        "baselines/page.html",
        {
            "rows": rows,
            "zones": zones,
            "units": UNIT_LABELS,
            "columns": COLUMNS,
            "file_error": file_error,
            "line_errors": line_errors or [],
            "error_total": error_total,
            "report": report,
            "filename": filename,
            "template_file": TEMPLATE_FILE,
            "max_mb": MAX_FILE_BYTES // (1024 * 1024),
            "max_bytes": MAX_FILE_BYTES,
            "too_large": french("baseline.too_large", "Le fichier dépasse 4 Mo : découpez-le."),
        },
        status_code=status_code,
    )


@router.get("/baselines")
def baselines_page(request: Request, user: EcologistPage, session: SessionDep) -> Response:
    return _page(request, session)


@router.post("/baselines", dependencies=[CSRF])
def import_baselines(
    request: Request,
    user: EcologistPage,
    session: SessionDep,
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    name = (file.filename or "") if file is not None else ""

    def refused(message: str) -> Response:
        return _page(request, session, status_code=422, file_error=message, filename=name)

    if file is None or not name:
        return refused("Choisissez le fichier CSV de l'inventaire.")
    raw = file.file.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        return refused(french("baseline.too_large", "Le fichier dépasse 4 Mo : découpez-le."))
    if not raw.strip():
        return refused("Le fichier est vide : il faut une ligne d'en-tête et au moins une ligne.")
    text = decode_file(raw)
    if text is None:
        return refused(french("baseline.not_text", "Le fichier n'est pas un fichier texte."))
    try:
        report = service.import_baselines(session, text, actor_id=user.id)
    except BaselineFileError as exc:
        fallback = french("baseline.row", "Cette ligne du fichier n'est pas valable.")
        errors = [
            {
                "line": e.line,
                "column": COLUMN_LABELS.get(e.column, e.column) if e.column else None,
                "message": e.french or f"{fallback} ({e.message})",
            }
            for e in exc.errors[:MAX_SHOWN_ERRORS]
        ]
        session.rollback()  # nothing of the file is kept, whatever the service had read
        return _page(
            request,
            session,
            status_code=422,
            file_error=french("baseline.invalid_file", "Le fichier ne peut pas être importé."),
            line_errors=errors,
            error_total=len(exc.errors),
            filename=name,
        )
    return _page(request, session, report=report, filename=name)
