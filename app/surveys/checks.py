"""A visit's counts checked against its site's protocol, and its flags (out of season): the
same rules for a single visit, a batch item and an edit.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from app.core.errors import FieldError
from app.core.settings import Settings
from app.species import service as species_service
from app.species.models import Species
from app.species.taxref import SpeciesGroup
from app.surveys.models import VisitFlag
from app.surveys.schemas import VisitCountIn
from app.surveys.yearly import SiteKind

# The months each protocol counts in (local time); a visit outside them is flagged, not refused.
SEASON_MONTHS = {
    SiteKind.nest_site: range(4, 9),  # April–August: swallows and swifts breed
    SiteKind.garden: range(3, 11),  # March–October: Opération Papillons
    SiteKind.transect: range(3, 11),
}


def _species_error(field: str, message: str, code: str) -> FieldError:
    return FieldError(field=field, message=message, code=code)


def _count_species(
    entry: VisitCountIn, by_id: Mapping[uuid.UUID, Species], by_cd_nom: Mapping[int, Species]
) -> Species | None:
    if entry.species_id is not None:
        return by_id.get(entry.species_id)
    assert entry.cd_nom is not None
    return by_cd_nom.get(entry.cd_nom)


def species_lookup(
    session: Session, settings: Settings, counts: Iterable[VisitCountIn]
) -> tuple[dict[uuid.UUID, Species], dict[int, Species]]:
    counts = list(counts)
    return species_service.species_by_keys(
        session,
        settings,
        ids={c.species_id for c in counts if c.species_id is not None},
        cd_noms={c.cd_nom for c in counts if c.species_id is None and c.cd_nom is not None},
    )


def check_counts(
    kind: SiteKind,
    counts: Sequence[VisitCountIn],
    by_id: Mapping[uuid.UUID, Species],
    by_cd_nom: Mapping[int, Species],
) -> tuple[list[tuple[VisitCountIn, Species]], list[FieldError]]:
    """The counts with their species, or why they do not suit a site of ``kind``: each
    species from the reference, the figures of the site's protocol and no others, one entry
    per species (per species and ``artificial`` at a nest site)."""
    accepted: list[tuple[VisitCountIn, Species]] = []
    errors: list[FieldError] = []
    seen: set[tuple[uuid.UUID, bool]] = set()
    nests = kind == SiteKind.nest_site
    for i, entry in enumerate(counts):
        at = f"counts.{i}"
        species = _count_species(entry, by_id, by_cd_nom)
        if species is None:
            field = f"{at}.species_id" if entry.species_id is not None else f"{at}.cd_nom"
            errors.append(
                _species_error(
                    field, "No species of the reference has this id.", "visit.unknown_species"
                )
            )
            continue
        if (
            entry.species_id is not None
            and entry.cd_nom is not None
            and species.cd_nom != entry.cd_nom
        ):
            errors.append(
                _species_error(
                    f"{at}.cd_nom",
                    f"`cd_nom` {entry.cd_nom} is not the species `species_id` names "
                    f"({species.cd_nom}).",
                    "visit.species_mismatch",
                )
            )
            continue
        nest_fields = (entry.occupied, entry.unoccupied, entry.destroyed, entry.artificial)
        if nests:
            if entry.count is not None:
                errors.append(
                    _species_error(
                        f"{at}.count",
                        "A nest site counts nests: give `occupied`, `unoccupied`, "
                        "`destroyed`, not `count`.",
                        "visit.count_kind_mismatch",
                    )
                )
                continue
            if entry.occupied is None:
                errors.append(
                    _species_error(
                        f"{at}.occupied",
                        "Give the number of occupied nests (0 if none).",
                        "visit.occupied_required",
                    )
                )
                continue
            if species.group != SpeciesGroup.bird.value:
                errors.append(
                    _species_error(
                        f"{at}.species_id" if entry.species_id else f"{at}.cd_nom",
                        f"{species.scientific_name} is not a bird: a nest site counts the "
                        "nests of swallows, martins and swifts.",
                        "visit.not_a_nesting_species",
                    )
                )
                continue
        else:
            if any(value is not None for value in nest_fields):
                errors.append(
                    _species_error(
                        at,
                        f"A {kind.value} counts individuals: give `count`, not nest figures.",
                        "visit.count_kind_mismatch",
                    )
                )
                continue
            if entry.count is None:
                errors.append(
                    _species_error(
                        f"{at}.count",
                        "Give the largest number seen at the same time (0 if none).",
                        "visit.count_required",
                    )
                )
                continue
        key = (species.id, bool(entry.artificial) if nests else False)
        if key in seen:
            errors.append(
                _species_error(
                    at,
                    f"{species.scientific_name} is listed twice"
                    + (" with the same `artificial`." if nests else "."),
                    "visit.duplicate_species",
                )
            )
            continue
        seen.add(key)
        accepted.append((entry, species))
    return accepted, errors


def flags_for(kind: SiteKind, started_at: datetime, tz: ZoneInfo) -> list[str]:
    flags = []
    if started_at.astimezone(tz).month not in SEASON_MONTHS[kind]:
        flags.append(VisitFlag.out_of_season.value)
    return flags
