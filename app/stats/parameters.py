"""What a statistics request asks for, checked alike by every endpoint: the years, the species.

Years run from 1900 (no observation or visit may be older: the capture API refuses them) to
2100, at most 200 at once. A species is named by ``species_id`` or ``cd_nom``, and statistics
gather its synonyms by ``cd_ref``: the accepted name's id is what the answers show.
"""

from __future__ import annotations

import uuid
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from app.core.db import utcnow
from app.core.errors import FieldError, Unprocessable
from app.core.settings import Settings
from app.species import service as species_service
from app.species.models import Species

MIN_YEAR = 1900  # no observation or visit may be older (the capture API refuses them)
MAX_YEAR = 2100
MAX_YEARS = 200


def invalid(errors: list[FieldError]) -> Unprocessable:
    """One 422 for every field refused, the first one's code as the problem's."""
    return Unprocessable(
        "; ".join(f"{e.field}: {e.message}" for e in errors), code=errors[0].code, errors=errors
    )


def year_range(
    from_year: int | None, to_year: int | None, *, tz: ZoneInfo
) -> tuple[int, int] | FieldError:
    """The years asked for: by default the last ``MAX_YEARS`` up to the current local year,
    which hold every stored report (none is from before 1900)."""
    if from_year is not None and to_year is not None:
        if from_year > to_year:
            return FieldError(
                field="from_year",
                message="`from_year` must not come after `to_year`.",
                code="stats.invalid_year_range",
            )
        if to_year - from_year + 1 > MAX_YEARS:
            return FieldError(
                field="to_year",
                message=f"Ask for at most {MAX_YEARS} years at once.",
                code="stats.invalid_year_range",
            )
        return from_year, to_year
    if to_year is None:
        to_year = utcnow().astimezone(tz).year
        if from_year is not None:
            # Asking from a year to come is not an inverted range: it has no report yet.
            to_year = max(to_year, from_year)
    if from_year is None:
        from_year = max(MIN_YEAR, to_year - MAX_YEARS + 1)
    return from_year, to_year


def resolve_species(
    session: Session, settings: Settings, *, species_id: uuid.UUID | None, cd_nom: int | None
) -> Species:
    species = species_service.resolve_species(
        session,
        settings,
        species_id=species_id,
        cd_nom=None if species_id is not None else cd_nom,
    )
    if species is None:
        raise invalid(
            [
                FieldError(
                    field="species_id" if species_id is not None else "cd_nom",
                    message="No species of the reference has this id.",
                    code="stats.unknown_species",
                )
            ]
        )
    if species_id is not None and cd_nom is not None and species.cd_nom != cd_nom:
        raise invalid(
            [
                FieldError(
                    field="cd_nom",
                    message=f"`cd_nom` {cd_nom} is not the species `species_id` names "
                    f"({species.cd_nom}).",
                    code="stats.species_mismatch",
                )
            ]
        )
    return species


def require_species(
    session: Session, settings: Settings, species_id: uuid.UUID | None, cd_nom: int | None
) -> Species:
    if species_id is None and cd_nom is None:
        raise invalid(
            [
                FieldError(
                    field="species_id",
                    message="Give the species as `species_id` or `cd_nom`.",
                    code="stats.species_required",
                )
            ]
        )
    return resolve_species(session, settings, species_id=species_id, cd_nom=cd_nom)


def accepted_species(session: Session, cd_refs: set[int]) -> dict[int, uuid.UUID]:
    """For each taxon, its accepted name's species id (``cd_nom == cd_ref``), else any of its
    names (the reference may hold only a synonym)."""
    if not cd_refs:
        return {}
    found: dict[int, uuid.UUID] = {}
    statement = select(Species.id, Species.cd_nom, Species.cd_ref).where(
        col(Species.cd_ref).in_(cd_refs)
    )
    for id_, cd_nom, cd_ref in session.exec(statement.order_by(col(Species.cd_nom))):
        if cd_ref not in found or cd_nom == cd_ref:
            found[cd_ref] = id_
    return found
