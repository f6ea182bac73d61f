"""Each site's yearly values as its owner reads them, by the protocols' rules
(``app.surveys.yearly``), and the visits' figures those rules read.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from app.core.settings import Settings
from app.records.models import ObservationStatus
from app.species.models import Species
from app.surveys.models import Site, Visit, VisitCount
from app.surveys.schemas import YearlyItem, YearlyResponse
from app.surveys.yearly import VisitCounts, yearly_values

# The visits that count towards a site's yearly values as its owner reads them: everything not
# rejected, so that a sentinel sees this spring's figure as soon as the visit is synced. The
# statistics pass ``validated`` only.
COUNTED_STATUSES = (
    ObservationStatus.pending.value,
    ObservationStatus.needs_info.value,
    ObservationStatus.validated.value,
)


def visit_counts(
    session: Session,
    *,
    statuses: Sequence[str],
    site_id: uuid.UUID | None = None,
    zone_id: uuid.UUID | None = None,
) -> dict[uuid.UUID, list[VisitCounts]]:
    """Each site's visits as the yearly rules read them: per species the visit's figure
    (occupied nests, natural and nest boxes together; or the butterfly count). One site, the
    sites of a zone, or every site not deleted: one joined statement, so that its parameters
    do not grow with the number of sites or visits."""
    statement = (
        sa_select(
            col(Visit.id),
            col(Visit.site_id),
            col(Visit.started_at),
            col(Visit.complete),
            col(VisitCount.species_id),
            col(VisitCount.count),
            col(VisitCount.occupied),
        )
        .join(Site, col(Site.id) == col(Visit.site_id))
        .outerjoin(VisitCount, col(VisitCount.visit_id) == col(Visit.id))
        .where(
            col(Site.deleted_at).is_(None),
            col(Visit.deleted_at).is_(None),
            col(Visit.status).in_(statuses),
        )
    )
    if site_id is not None:
        statement = statement.where(col(Visit.site_id) == site_id)
    if zone_id is not None:
        statement = statement.where(col(Site.zone_id) == zone_id)
    heads: dict[uuid.UUID, tuple[uuid.UUID, datetime, bool]] = {}
    figures: dict[uuid.UUID, dict[uuid.UUID, int]] = defaultdict(dict)
    rows = session.execute(statement)
    for visit_id, site, started_at, complete, species_id, count, occupied in rows:
        heads.setdefault(visit_id, (site, started_at, complete))
        if species_id is not None:
            figure = (occupied if count is None else count) or 0
            figures[visit_id][species_id] = figures[visit_id].get(species_id, 0) + figure
    by_site: dict[uuid.UUID, list[VisitCounts]] = defaultdict(list)
    for visit_id, (site, started_at, complete) in heads.items():
        by_site[site].append(
            VisitCounts(started_at=started_at, complete=complete, counts=figures[visit_id])
        )
    return by_site


def site_yearly(session: Session, settings: Settings, *, site: Site) -> YearlyResponse:
    visits = visit_counts(session, site_id=site.id, statuses=COUNTED_STATUSES).get(site.id, [])
    values = yearly_values(site.kind, visits, tz=settings.tz)
    species = {s.id: s for s in _species_of(session, {v.species_id for v in values})}
    return YearlyResponse(
        items=[
            YearlyItem(
                year=v.year,
                species_id=v.species_id,
                cd_nom=species[v.species_id].cd_nom,
                value=v.value,
                unit=v.unit,
                visits=v.visits,
            )
            for v in values
        ]
    )


def _species_of(session: Session, ids: set[uuid.UUID]) -> Sequence[Species]:
    if not ids:
        return []
    return session.exec(select(Species).where(col(Species.id).in_(ids))).all()
