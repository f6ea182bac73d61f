"""Inventory baselines over HTTP: ecologists import, list and delete them."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, File, Path, Query, Response, UploadFile, status

import app.core.routing  # noqa: F401  (the {name:id} path convertor)
from app.accounts.dependencies import EcologistUser
from app.baselines import service
from app.baselines.csvfile import MAX_FILE_BYTES, BaselineFileError, decode_file
from app.baselines.models import Baseline, BaselineUnit
from app.baselines.schemas import BaselineList, BaselinePublic, ImportReportPublic
from app.core.deps import SessionDep
from app.core.errors import FieldError, NotFound, Unprocessable, problem_doc

router = APIRouter(prefix="/baselines", tags=["statistics"])

Responses = dict[int | str, dict[str, Any]]
STAFF_ONLY: Responses = {
    401: problem_doc("No valid access token."),
    403: problem_doc("Not an ecologist or admin."),
}


def file_refused(exc: BaselineFileError) -> Unprocessable:
    return Unprocessable(
        f"The file cannot be imported: {len(exc.errors)} problem(s); nothing was stored.",
        code="baseline.invalid_file",
        errors=[
            FieldError(field="file", message=f"line {e.line}: {e.message}", code="baseline.row")
            for e in exc.errors[:1000]
        ],
    )


@router.post(
    "/import",
    response_model=ImportReportPublic,
    summary="Import the CPIE's inventory baselines (CSV)",
    description="Multipart field `file`: a CSV with the columns `year, cd_nom, zone_code, "
    "site_code, count, unit, method, source` (`,` or `;`, UTF-8). All or nothing: any error "
    "answers 422 with every row at fault (`errors[].message` starts with its line number) and "
    "stores nothing. Rows are matched on year, species, zone, site and unit: importing the same "
    "file again changes nothing, a corrected count replaces the old one.",
    responses={**STAFF_ONLY, 422: problem_doc("The file has errors; nothing was stored.")},
)
async def import_baselines(
    staff: EcologistUser,
    session: SessionDep,
    file: Annotated[UploadFile, File(description="The inventory as CSV.")],
) -> ImportReportPublic:
    # async, to read the upload without a thread; the import itself (up to 4 MiB of CSV) runs
    # in a worker thread, never on the event loop that answers every other request.
    raw = await file.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise Unprocessable("The file is larger than 4 MiB: split it.", code="baseline.too_large")
    text = decode_file(raw)
    if text is None:
        raise Unprocessable(
            "The file is neither UTF-8 nor Windows-1252 text.", code="baseline.not_text"
        )
    try:
        report = await anyio.to_thread.run_sync(
            lambda: service.import_baselines(session, text, actor_id=staff.id)
        )
    except BaselineFileError as exc:
        raise file_refused(exc) from None
    return ImportReportPublic(
        rows=report.rows, created=report.created, updated=report.updated, unchanged=report.unchanged
    )


def _present(baseline: Baseline, cd_nom: int, name: str, vernacular: str | None) -> BaselinePublic:
    return BaselinePublic(
        id=baseline.id,
        year=baseline.year,
        species_id=baseline.species_id,
        cd_nom=cd_nom,
        scientific_name=name,
        vernacular_name=vernacular,
        zone_id=baseline.zone_id,
        site_id=baseline.site_id,
        count=baseline.count,
        unit=BaselineUnit(baseline.unit),
        method=baseline.method,
        source=baseline.source,
        created_at=baseline.created_at,
        updated_at=baseline.updated_at,
    )


@router.get(
    "",
    response_model=BaselineList,
    summary="List inventory baselines",
    description="By species name, then year.",
    responses=STAFF_ONLY,
)
def list_baselines(
    _staff: EcologistUser,
    session: SessionDep,
    species_id: Annotated[uuid.UUID | None, Query()] = None,
    year: Annotated[int | None, Query(ge=1900, le=2100)] = None,
    zone_id: Annotated[uuid.UUID | None, Query()] = None,
) -> BaselineList:
    rows = service.list_baselines(
        session,
        species_ids=[species_id] if species_id else None,
        year=year,
        zone_id=zone_id,
    )
    return BaselineList(
        items=[_present(b, s.cd_nom, s.scientific_name, s.vernacular_name) for b, s in rows]
    )


@router.delete(
    "/{baseline_id:id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Delete an inventory baseline",
    responses={**STAFF_ONLY, 404: problem_doc("No such baseline.")},
)
def delete_baseline(
    staff: EcologistUser,
    session: SessionDep,
    baseline_id: Annotated[uuid.UUID, Path()],
) -> Response:
    baseline = session.get(Baseline, baseline_id)
    if baseline is None:
        raise NotFound("No such baseline.", code="baseline.not_found")
    service.delete_baseline(session, baseline=baseline, actor_id=staff.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
