"""Importing, listing and deleting inventory baselines.

An import is all or nothing: the file is read whole, every row checked against the references
(the species by ``cd_nom``, the zone by its code, the site by its CPIE code), and nothing is
stored unless every row is right. Rows are then upserted on their natural key, so that
importing the same file again changes nothing, and a corrected count replaces the old one (each
creation and change in the audit trail).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from app.audit import service as audit
from app.audit.models import AuditAction, AuditEntity
from app.baselines.csvfile import BaselineFileError, BaselineRow, LineError, read_baselines
from app.baselines.models import Baseline
from app.core.db import utcnow
from app.species.models import Species
from app.surveys.models import Site
from app.zones.models import Zone


@dataclass(frozen=True, slots=True)
class ImportReport:
    rows: int
    created: int
    updated: int
    unchanged: int


def natural_key(
    year: int,
    species_id: uuid.UUID,
    zone_id: uuid.UUID | None,
    site_id: uuid.UUID | None,
    unit: str,
) -> str:
    zone = zone_id.hex if zone_id else "-"
    site = site_id.hex if site_id else "-"
    return f"{year}|{species_id.hex}|{zone}|{site}|{unit}"


def import_baselines(
    session: Session, text: str, *, actor_id: uuid.UUID | None = None
) -> ImportReport:
    """Checks then stores a whole inventory file; :class:`BaselineFileError` lists every row at
    fault (bad values, unknown species, zone or site, the same baseline twice)."""
    rows, errors = read_baselines(text)
    if not rows and not errors:
        raise BaselineFileError(
            [
                LineError(
                    1,
                    "the file has a header but no rows",
                    french="le fichier a une ligne d'en-tête mais aucune ligne de données",
                )
            ]
        )
    species = _by(session, Species, "cd_nom", {r.cd_nom for r in rows})
    zones = _by(session, Zone, "code", {r.zone_code for r in rows if r.zone_code})
    sites = _by(session, Site, "code", {r.site_code for r in rows if r.site_code})
    resolved: dict[str, tuple[BaselineRow, Species, Zone | None, Site | None]] = {}
    for row in rows:
        found = species.get(row.cd_nom)
        zone = zones.get(row.zone_code) if row.zone_code else None
        site = sites.get(row.site_code) if row.site_code else None
        if found is None:
            errors.append(
                LineError(
                    row.line,
                    f"cd_nom {row.cd_nom} is not in the species reference",
                    column="cd_nom",
                    french=f"le cd_nom {row.cd_nom} n'est pas dans le référentiel des espèces",
                )
            )
        if row.zone_code and zone is None:
            errors.append(
                LineError(
                    row.line,
                    f"no zone has the code {row.zone_code!r}",
                    column="zone_code",
                    french=f"aucune zone n'a le code « {row.zone_code} »",
                )
            )
        if row.site_code and (site is None or site.deleted_at is not None):
            errors.append(
                LineError(
                    row.line,
                    f"no survey site has the code {row.site_code!r}",
                    column="site_code",
                    french=f"aucun site de suivi n'a le code « {row.site_code} »",
                )
            )
        if found is None or (row.zone_code and zone is None) or (row.site_code and site is None):
            continue
        key = natural_key(
            row.year, found.id, zone.id if zone else None, site.id if site else None, row.unit.value
        )
        if key in resolved:
            errors.append(
                LineError(
                    row.line,
                    f"the same baseline as line {resolved[key][0].line} (year, species, zone, "
                    "site and unit)",
                    french=f"la même valeur de référence qu'à la ligne {resolved[key][0].line} "
                    "(année, espèce, zone, site et unité)",
                )
            )
            continue
        resolved[key] = (row, found, zone, site)
    if errors:
        raise BaselineFileError(sorted(errors, key=lambda e: e.line))

    stored = {
        b.natural_key: b
        for b in session.exec(select(Baseline).where(col(Baseline.natural_key).in_(resolved)))
    }
    created = updated = 0
    now = utcnow()
    for key, (row, found, zone, site) in resolved.items():
        values: dict[str, Any] = {"count": row.count, "method": row.method, "source": row.source}
        existing = stored.get(key)
        if existing is None:
            baseline = Baseline(
                year=row.year,
                species_id=found.id,
                zone_id=zone.id if zone else None,
                site_id=site.id if site else None,
                unit=row.unit.value,
                natural_key=key,
                created_at=now,
                updated_at=now,
                **values,
            )
            session.add(baseline)
            session.flush()
            audit.record(
                session,
                actor_id=actor_id,
                entity=AuditEntity.baseline,
                entity_id=baseline.id,
                action=AuditAction.create,
                changes={
                    "year": [None, row.year],
                    "cd_nom": [None, row.cd_nom],
                    "zone_code": [None, row.zone_code],
                    "site_code": [None, row.site_code],
                    "unit": [None, row.unit.value],
                    **{name: [None, value] for name, value in values.items()},
                },
            )
            created += 1
            continue
        changes = {
            name: [getattr(existing, name), value]
            for name, value in values.items()
            if getattr(existing, name) != value
        }
        if changes:
            for name, value in values.items():
                setattr(existing, name, value)
            existing.updated_at = now
            session.add(existing)
            audit.record(
                session,
                actor_id=actor_id,
                entity=AuditEntity.baseline,
                entity_id=existing.id,
                action=AuditAction.update,
                changes=changes,
            )
            updated += 1
    session.flush()
    return ImportReport(
        rows=len(rows), created=created, updated=updated, unchanged=len(rows) - created - updated
    )


def _by(session: Session, model: Any, column: str, values: set[Any]) -> dict[Any, Any]:
    """``{value: row}`` of the rows of ``model`` whose ``column`` is one of ``values``."""
    if not values:
        return {}
    attribute = col(getattr(model, column))
    rows = session.exec(select(model).where(attribute.in_(values))).all()
    return {getattr(row, column): row for row in rows}


def list_baselines(
    session: Session,
    *,
    species_ids: Sequence[uuid.UUID] | None = None,
    year: int | None = None,
    zone_id: uuid.UUID | None = None,
) -> list[tuple[Baseline, Species]]:
    statement = select(Baseline, Species).join(Species, col(Species.id) == col(Baseline.species_id))
    if species_ids is not None:
        statement = statement.where(col(Baseline.species_id).in_(species_ids))
    if year is not None:
        statement = statement.where(col(Baseline.year) == year)
    if zone_id is not None:
        statement = statement.where(col(Baseline.zone_id) == zone_id)
    statement = statement.order_by(
        col(Species.scientific_name), col(Baseline.year), col(Baseline.id)
    )
    return list(session.exec(statement).all())


def delete_baseline(session: Session, *, baseline: Baseline, actor_id: uuid.UUID) -> None:
    audit.record(
        session,
        actor_id=actor_id,
        entity=AuditEntity.baseline,
        entity_id=baseline.id,
        action=AuditAction.delete,
        changes={"count": [baseline.count, None], "year": [baseline.year, None]},
    )
    session.delete(baseline)
    session.flush()
