"""HTTP routes of the species reference: anyone searches it; ecologists add names from TAXREF
and correct them, sensitivity included (whole files go through the CLI)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from app.accounts.dependencies import PUPILS_ADMITTED, EcologistUser
from app.core.deps import SessionDep
from app.core.errors import problem_doc
from app.core.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery, Page
from app.species import service
from app.species.schemas import SpeciesCreate, SpeciesPublic
from app.species.taxref import SpeciesGroup

router = APIRouter(prefix="/species", tags=["species"])

STAFF_ONLY: dict[int | str, dict[str, Any]] = {
    401: problem_doc("No valid access token"),
    403: problem_doc("Not an ecologist or admin (`auth.role_required`)"),
}


@router.get(
    "",
    dependencies=[PUPILS_ADMITTED],
    summary="Search the reference species",
    description=(
        "Alphabetical by French name (scientific name where there is none). `q` matches "
        "scientific and French names, ignoring case and accents (`pieride` finds "
        '"Piéride du Chou"), or a TAXREF `cd_nom`.'
    ),
    response_model=Page[SpeciesPublic],
    responses={422: problem_doc("Bad query parameter or cursor")},
)
def list_species(
    session: SessionDep,
    q: Annotated[
        str | None,
        Query(
            max_length=service.MAX_QUERY_LENGTH,
            description="Part of a name or a cd_nom.",
            examples=["hirondelle"],
        ),
    ] = None,
    group: Annotated[SpeciesGroup | None, Query(description="Only this group.")] = None,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
) -> Page[SpeciesPublic]:
    listing = service.list_species(
        session, q=q, group=group.value if group else None, limit=limit, cursor=cursor
    )
    return Page[SpeciesPublic](
        items=[SpeciesPublic.model_validate(s) for s in listing.items],
        next_cursor=listing.next_cursor,
    )


@router.get(
    "/{species_id}",
    dependencies=[PUPILS_ADMITTED],
    summary="One reference species",
    response_model=SpeciesPublic,
    responses={
        404: problem_doc("No species has this id (`species.not_found`)"),
        422: problem_doc("The id is not a UUID"),
    },
)
def get_species(session: SessionDep, species_id: uuid.UUID) -> SpeciesPublic:
    return SpeciesPublic.model_validate(service.get_species(session, species_id))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=SpeciesPublic,
    summary="Add a species from its TAXREF fields (ecologists)",
    description=(
        "For a name the shipped reference lacks: its TAXREF row's fields (`cd_ref` defaults to "
        "`cd_nom`). Set `sensitive` (and `generalisation`) for a species whose positions must "
        "not be published exactly. Recorded in the audit trail."
    ),
    responses={
        **STAFF_ONLY,
        409: problem_doc("The reference already has this `cd_nom` (`species.cd_nom_taken`)"),
        422: problem_doc("A field is missing, unknown, out of range or too long"),
    },
)
def create_species(body: SpeciesCreate, user: EcologistUser, session: SessionDep) -> SpeciesPublic:
    return SpeciesPublic.model_validate(
        service.create_species(session, actor_id=user.id, data=body)
    )
