"""Demo survey sites and five seasons of their visits, so that yearly values and trends show.

Half of the demo sentinels count the swallow nests on a façade of their street three times a
spring; the other half count the butterflies of their garden once or twice a month. The house
martins slowly decline over the five years and the garden butterflies hold steady, so that the
yearly values (``GET /sites/{id}/yearly``) and the statistics built on them have something to
tell. Rows are written through the models, like the rest of the demo.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select
from sqlmodel import Session, col

from app.accounts.models import User
from app.baselines.models import Baseline
from app.baselines.service import import_baselines
from app.core.settings import Settings
from app.observations.models import ObservationStatus
from app.species.models import Species
from app.surveys import rollups
from app.surveys.checks import flags_for
from app.surveys.models import Site, Visit, VisitCount
from app.surveys.yearly import SiteKind
from app.zones.service import locate_zones

PARIS = ZoneInfo("Europe/Paris")
SEASONS = 5

# Nest species of a façade: (cd_nom, occupied nests in the first season, change per season).
FACADE_SPECIES = ((459478, 9.0, -0.7), (3696, 2.5, 0.0), (3551, 3.0, -0.2))
# Garden butterflies: (cd_nom, peak count, month of the peak, months either side it is seen).
GARDEN_SPECIES = (
    (608364, 5.0, 7, 3),
    (219831, 4.0, 7, 3),
    (54342, 3.0, 8, 2),
    (53741, 2.0, 9, 2),
    (54417, 1.5, 4, 2),
    (53668, 3.0, 7, 1),
)
STREETS = (
    "rue Jean Jaurès",
    "rue de la Gare",
    "cité des Provinces",
    "rue Lamartine",
    "rue Victor Hugo",
    "place de la République",
)


def has_demo_sites(session: Session, owner_ids: Sequence[uuid.UUID]) -> bool:
    if not owner_ids:
        return False
    found = session.scalar(
        select(func.count()).select_from(Site).where(col(Site.owner_id).in_(owner_ids))
    )
    return bool(found)


def delete_demo_surveys(session: Session, owner_ids: Sequence[uuid.UUID]) -> int:
    """Deletes the demo sites, their visits and counts; the number of sites deleted."""
    if not owner_ids:
        return 0
    sites = select(col(Site.id)).where(col(Site.owner_id).in_(owner_ids))
    visits = select(col(Visit.id)).where(col(Visit.site_id).in_(sites))
    session.execute(delete(Baseline).where(col(Baseline.site_id).in_(sites)))
    session.execute(delete(VisitCount).where(col(VisitCount.visit_id).in_(visits)))
    session.execute(delete(Visit).where(col(Visit.site_id).in_(sites)))
    result = session.execute(delete(Site).where(col(Site.owner_id).in_(owner_ids)))
    rollups.mark_everything(session)
    session.flush()
    return int(getattr(result, "rowcount", 0) or 0)


def _moment(day: date, rng: random.Random, now: datetime) -> datetime | None:
    local = datetime.combine(day, time(rng.randint(9, 17), rng.choice((0, 15, 30, 45))), PARIS)
    moment = local.astimezone(UTC)
    return moment if moment <= now else None


def _status(moment: datetime, now: datetime, rng: random.Random) -> str:
    if (now - moment).days < 10:
        return ObservationStatus.pending.value
    if rng.random() < 0.9:
        return ObservationStatus.validated.value
    return ObservationStatus.pending.value


def generate_surveys(
    session: Session,
    settings: Settings,
    rng: random.Random,
    *,
    homes: Sequence[tuple[float, float]],
    observers: Sequence[User],
    year: int,
    now: datetime,
) -> tuple[int, int]:
    """Creates a site per demo sentinel near their home and its visits over the five seasons
    up to ``year``; ``(sites, visits)`` created."""
    species = {
        s.cd_nom: s
        for s in session.scalars(
            select(Species).where(
                col(Species.cd_nom).in_(
                    [c for c, *_ in FACADE_SPECIES] + [c for c, *_ in GARDEN_SPECIES]
                )
            )
        )
    }
    zone_ids = locate_zones(session, settings, list(homes))
    sites = visits = 0
    for number, (observer, (lat, lon), zone_id) in enumerate(
        zip(observers, homes, zone_ids, strict=True)
    ):
        kind = SiteKind.nest_site if number % 2 == 0 else SiteKind.garden
        name = (
            f"Façades {STREETS[number % len(STREETS)]}"
            if kind is SiteKind.nest_site
            else f"Jardin de {observer.display_name}"
        )
        created = datetime.combine(date(year - SEASONS + 1, 3, 20), time(18), PARIS)
        site = Site(
            client_id=uuid.uuid4(),
            owner_id=observer.id,
            kind=kind.value,
            code=f"DEMO-{'FAC' if kind is SiteKind.nest_site else 'JAR'}-{number + 1:02d}",
            name=name,
            latitude=round(lat, 6),
            longitude=round(lon, 6),
            zone_id=zone_id,
            created_at=created.astimezone(UTC),
            updated_at=created.astimezone(UTC),
        )
        session.add(site)
        session.flush()
        sites += 1
        scale = rng.uniform(0.6, 1.4)
        for season in range(SEASONS):
            season_year = year - SEASONS + 1 + season
            for day, counts in _season(kind, season, season_year, scale, rng, species):
                moment = _moment(day, rng, now)
                if moment is None:
                    continue
                visit = Visit(
                    client_id=uuid.uuid4(),
                    site_id=site.id,
                    observer_id=observer.id,
                    started_at=moment,
                    duration_min=rng.choice((15, 20, 30, 45)),
                    observers=rng.choice((1, 1, 1, 2)),
                    complete=True,
                    status=_status(moment, now, rng),
                    flags=flags_for(kind, moment, settings.tz),
                    created_at=moment + timedelta(hours=1),
                    updated_at=moment + timedelta(hours=1),
                    **(_weather(rng) if kind is SiteKind.garden else {}),
                )
                session.add(visit)
                session.flush()
                session.add_all(VisitCount(visit_id=visit.id, **c) for c in counts)
                visits += 1
    session.flush()
    return sites, visits


def _weather(rng: random.Random) -> dict[str, Any]:
    return {
        "temperature_c": float(rng.randint(15, 29)),
        "wind": rng.choice(("nul", "leger", "leger", "modere")),
        "cloud_pct": rng.choice((0, 10, 20, 40, 60)),
    }


def _season(
    kind: SiteKind,
    season: int,
    year: int,
    scale: float,
    rng: random.Random,
    species: dict[int, Species],
) -> list[tuple[date, list[dict[str, Any]]]]:
    """The visits of one season: their days and counts."""
    if kind is SiteKind.nest_site:
        days = [date(year, 5, rng.randint(5, 25)), date(year, 6, rng.randint(5, 25))]
        days.append(date(year, 7, rng.randint(5, 25)))
        visits = []
        for i, day in enumerate(days):
            counts: list[dict[str, Any]] = []
            for cd_nom, first, change in FACADE_SPECIES:
                if cd_nom not in species:
                    continue
                expected = max(0.0, (first + change * season) * scale) * (0.8 + 0.1 * i)
                occupied = max(0, round(rng.gauss(expected, 1.0)))
                counts.append(
                    {
                        "species_id": species[cd_nom].id,
                        "occupied": occupied,
                        "unoccupied": rng.randint(0, 2),
                        "destroyed": 1 if rng.random() < 0.05 else 0,
                        "artificial": False,
                    }
                )
            visits.append((day, counts))
        return visits
    visits = []
    for month in range(4, 10):
        for _ in range(rng.choice((1, 1, 2))):
            day = date(year, month, rng.randint(1, 28))
            counts = []
            for cd_nom, peak, peak_month, width in GARDEN_SPECIES:
                if cd_nom not in species or abs(month - peak_month) > width:
                    continue
                expected = peak * scale * math.exp(-(((month - peak_month) / width) ** 2))
                seen = rng.choices((0, 1), (0.3, 0.7))[0] * max(0, round(rng.gauss(expected, 1.0)))
                if seen:
                    counts.append({"species_id": species[cd_nom].id, "count": seen})
            visits.append((day, counts))
    return visits


# The demo inventory of 2010, for the whole commune: (cd_nom, count, unit). Figures a CPIE
# inventory of a town this size could hold; the demo's protocols and sightings are then
# compared with them.
DEMO_INVENTORY = (
    (459478, 34, "nests"),
    (3696, 12, "nests"),
    (3551, 60, "individuals"),  # the largest flock over the town
    # Butterflies as the gardens' protocol counts them (sum of monthly maxima over the gardens).
    (608364, 70, "individuals"),
    (219831, 60, "individuals"),
    (54342, 30, "individuals"),
    (53741, 12, "individuals"),
    (259, 1, "presence"),
    (459628, 1, "presence"),
    (2938, 1, "presence"),
    (4064, 1, "presence"),
)
INVENTORY_YEAR = 2010


def load_demo_baselines(session: Session, *, year: int) -> int:
    """The demo inventory: the commune's 2010 counts, and each façade's nests the year before
    its first season (as if the CPIE had counted them then), so that trends start at the
    inventory. Idempotent: the rows are matched on their natural key."""
    lines = ["year,cd_nom,zone_code,site_code,count,unit,method,source"]
    known = set(session.scalars(select(col(Species.cd_nom))))
    for cd_nom, count, unit in DEMO_INVENTORY:
        if cd_nom in known:
            lines.append(f"{INVENTORY_YEAR},{cd_nom},,,{count},{unit},inventaire,démo")
    facades = session.scalars(
        select(Site).where(col(Site.code).like("DEMO-FAC-%"), col(Site.deleted_at).is_(None))
    )
    first_season = year - SEASONS + 1
    for site in facades:
        lines.append(f"{first_season - 1},459478,,{site.code},10,nests,façades,démo")
    report = import_baselines(session, "\n".join(lines) + "\n")
    return report.created
