"""The species correction route: a species' sensitivity decides where its observations show,
so the correction and the moving of their public positions are one step, above both domains."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from app.accounts.dependencies import EcologistUser
from app.core.deps import SessionDep, SettingsDep
from app.core.errors import problem_doc
from app.observations.sensitivity import correct_species
from app.species.router import STAFF_ONLY
from app.species.schemas import SpeciesPublic, SpeciesUpdate

router = APIRouter(prefix="/species", tags=["species"])


@router.patch(
    "/{species_id}",
    response_model=SpeciesPublic,
    summary="Correct a species' names, group or sensitivity (ecologists)",
    description=(
        "Any of `scientific_name`, `authority`, `vernacular_name`, `vernacular_en`, `group`, "
        "`sensitive`, `generalisation`; a field left out stays as it is, and `authority` and "
        "the vernacular names may be set to null. Changing `sensitive` or `generalisation` "
        "moves the public position of every observation of the species (deleted ones "
        "included) in the same transaction, and bumps their `updated_at` so that syncing "
        "phones fetch them again. Recorded in the audit trail with each field's value before "
        "and after."
    ),
    responses={
        **STAFF_ONLY,
        404: problem_doc("No species has this id (`species.not_found`)"),
        422: problem_doc("A field is unknown, out of range, too long, or null where it may not be"),
    },
)
def update_species(
    species_id: uuid.UUID,
    body: SpeciesUpdate,
    user: EcologistUser,
    session: SessionDep,
    settings: SettingsDep,
) -> SpeciesPublic:
    species = correct_species(session, settings, actor_id=user.id, species_id=species_id, data=body)
    return SpeciesPublic.model_validate(species)
