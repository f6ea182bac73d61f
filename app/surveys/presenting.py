"""Sites and visits as the API shows them: a visit with its counts (one query for many
visits), a deleted visit as a tombstone without counts.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlmodel import Session, col, select

from app.species.models import Species
from app.surveys.models import Site, Visit, VisitCount
from app.surveys.schemas import SitePublic, VisitCountPublic, VisitPublic, Weather
from app.surveys.yearly import SiteKind


def present_site(site: Site) -> SitePublic:
    return SitePublic(
        id=site.id,
        client_id=site.client_id,
        kind=SiteKind(site.kind),
        name=site.name,
        latitude=site.latitude,
        longitude=site.longitude,
        geometry=json.loads(site.geometry) if site.geometry else None,
        zone_id=site.zone_id,
        owner_id=site.owner_id,
        class_id=site.class_id,
        created_at=site.created_at,
        updated_at=site.updated_at,
        deleted=site.deleted_at is not None,
    )


def _present_count(row: VisitCount, cd_nom: int, nests: bool) -> VisitCountPublic:
    return VisitCountPublic(
        species_id=row.species_id,
        cd_nom=cd_nom,
        count=row.count,
        occupied=row.occupied,
        unoccupied=row.unoccupied,
        destroyed=row.destroyed,
        artificial=row.artificial if nests else None,
    )


def counts_of(session: Session, visit_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Any]]:
    """``visit_id -> [(VisitCount, cd_nom), ...]`` for many visits in one query."""
    found: dict[uuid.UUID, list[Any]] = defaultdict(list)
    if not visit_ids:
        return found
    statement = (
        select(VisitCount, Species.cd_nom)
        .join(Species, col(Species.id) == col(VisitCount.species_id))
        .where(col(VisitCount.visit_id).in_(visit_ids))
        .order_by(col(Species.cd_nom), col(VisitCount.artificial))
    )
    for count, cd_nom in session.exec(statement):
        found[count.visit_id].append((count, cd_nom))
    return found


def present_visit(visit: Visit, kind: SiteKind, counts: Sequence[Any]) -> VisitPublic:
    nests = kind == SiteKind.nest_site
    weather = None
    if visit.temperature_c is not None or visit.wind is not None or visit.cloud_pct is not None:
        weather = Weather.model_validate(
            {"temperature_c": visit.temperature_c, "wind": visit.wind, "cloud_pct": visit.cloud_pct}
        )
    return VisitPublic.model_validate(
        {
            "id": visit.id,
            "client_id": visit.client_id,
            "site_id": visit.site_id,
            "observer_id": visit.observer_id,
            "started_at": visit.started_at,
            "duration_min": visit.duration_min,
            "observers": visit.observers,
            "complete": visit.complete,
            "weather": weather,
            "notes": visit.notes,
            "counts": [] if visit.deleted_at else [_present_count(c, n, nests) for c, n in counts],
            "status": visit.status,
            "flags": visit.flags,
            "created_at": visit.created_at,
            "updated_at": visit.updated_at,
            "deleted": visit.deleted_at is not None,
        }
    )


def read_visit(session: Session, *, visit: Visit, site: Site) -> VisitPublic:
    return present_visit(visit, SiteKind(site.kind), counts_of(session, [visit.id])[visit.id])
