"""Survey visits: idempotent capture by ``client_id``, edits (audited, back to review), soft
deletion, and the lists (newest first, or the sync list with tombstones).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, or_
from sqlmodel import Session, col, select

from app.accounts.models import User
from app.audit.models import AuditEntity
from app.audit.service import snapshot
from app.core.db import new_id, utcnow
from app.core.settings import Settings
from app.core.viewer import Viewer, is_staff
from app.records.lifecycle import (
    audit_update,
    back_to_review,
    delete_audited,
    ensure_editable,
    live,
    raise_for,
    table_of,
)
from app.records.models import ObservationStatus
from app.species.models import Species
from app.surveys.checks import check_counts, flags_for, species_lookup
from app.surveys.common import VISIT_CAPTURE, VISITS
from app.surveys.models import Site, Visit, VisitCount
from app.surveys.presenting import counts_of, present_visit, read_visit
from app.surveys.schemas import (
    VisitCountIn,
    VisitCreate,
    VisitPage,
    VisitPublic,
    VisitUpdate,
    Weather,
)
from app.surveys.yearly import SiteKind

VISIT_AUDITED_FIELDS = (
    "started_at",
    "duration_min",
    "observers",
    "complete",
    "temperature_c",
    "wind",
    "cloud_pct",
    "notes",
    "status",
    "flags",
    "deleted_at",
)

COUNT_TABLE = table_of(VisitCount)


def _count_rows(
    visit_id: uuid.UUID, kind: SiteKind, counts: Sequence[tuple[VisitCountIn, Species]]
) -> list[dict[str, Any]]:
    nests = kind == SiteKind.nest_site
    return [
        {
            "id": new_id(),
            "visit_id": visit_id,
            "species_id": species.id,
            "count": None if nests else entry.count,
            "occupied": entry.occupied if nests else None,
            "unoccupied": entry.unoccupied if nests else None,
            "destroyed": entry.destroyed if nests else None,
            "artificial": bool(entry.artificial) if nests else False,
        }
        for entry, species in counts
    ]


def _weather_columns(weather: Weather | None) -> dict[str, Any]:
    return {
        "temperature_c": weather.temperature_c if weather else None,
        "wind": weather.wind.value if weather and weather.wind else None,
        "cloud_pct": weather.cloud_pct if weather else None,
    }


def insert_visit(
    session: Session,
    settings: Settings,
    *,
    site: Site,
    observer_id: uuid.UUID,
    pupil_id: uuid.UUID | None,
    data: VisitCreate,
    counts: Sequence[tuple[VisitCountIn, Species]],
) -> tuple[uuid.UUID, bool]:
    """Stores the visit and its counts unless its ``client_id`` is stored: ``(id, created)``."""
    kind = SiteKind(site.kind)
    now = utcnow()
    row = {
        "id": new_id(),
        "client_id": data.client_id,
        "site_id": site.id,
        "observer_id": observer_id,
        "pupil_id": pupil_id,
        "started_at": data.started_at,
        "duration_min": data.duration_min,
        "observers": data.observers,
        "complete": data.complete,
        **_weather_columns(data.weather),
        "notes": data.notes,
        "status": ObservationStatus.pending.value,
        "flags": flags_for(kind, data.started_at, settings.tz),
        "created_at": now,
        "updated_at": now,
        "deleted_at": None,
    }
    if not VISIT_CAPTURE.insert_missing(session, [row]):
        stored: Visit = VISIT_CAPTURE.stored(
            session, select(Visit), owner_id=observer_id, client_id=data.client_id
        )
        return stored.id, False
    rows = _count_rows(row["id"], kind, counts)
    if rows:
        session.connection().execute(COUNT_TABLE.insert(), rows)
    return row["id"], True


def add_visit(
    session: Session,
    settings: Settings,
    *,
    site: Site,
    observer_id: uuid.UUID,
    data: VisitCreate,
    pupil_id: uuid.UUID | None = None,
) -> tuple[VisitPublic, bool]:
    """The visit and whether it was created now (False: the stored one, unchanged);
    ``pupil_id``: the pupil whose token sent it (``Viewer.pupil_id``)."""
    by_id, by_cd_nom = species_lookup(session, settings, data.counts)
    counts, errors = check_counts(SiteKind(site.kind), data.counts, by_id, by_cd_nom)
    raise_for(errors)
    visit_id, created = insert_visit(
        session,
        settings,
        site=site,
        observer_id=observer_id,
        pupil_id=pupil_id,
        data=data,
        counts=counts,
    )
    visit = session.get(Visit, visit_id)
    assert visit is not None
    stored_site = site if visit.site_id == site.id else session.get(Site, visit.site_id)
    assert stored_site is not None
    return read_visit(session, visit=visit, site=stored_site), created


def may_add_visit(user: Viewer, site: Site) -> bool:
    """The site's owner counts at it; so may ecologists and admins (the CPIE's own surveys)."""
    return user.id == site.owner_id or is_staff(user)


def get_visit(session: Session, visit_id: uuid.UUID) -> tuple[Visit, Site] | None:
    """The visit and its site, None when unknown or deleted."""
    visit = live(session, Visit, visit_id)
    if visit is None:
        return None
    site = session.get(Site, visit.site_id)
    assert site is not None
    return visit, site


def _counts_snapshot(session: Session, visit_id: uuid.UUID) -> list[list[Any]]:
    rows = session.exec(select(VisitCount).where(col(VisitCount.visit_id) == visit_id)).all()
    return sorted(
        [str(r.species_id), r.count, r.occupied, r.unoccupied, r.destroyed, r.artificial]
        for r in rows
    )


def update_visit(
    session: Session,
    settings: Settings,
    *,
    visit: Visit,
    site: Site,
    data: VisitUpdate,
    editor: User,
) -> VisitPublic:
    """Applies a PATCH of the observer's; ``counts``, when given, replaces the visit's, and a
    validated visit goes back to pending for another review."""
    ensure_editable(visit, kind="A visit", code="visit.not_editable")
    kind = SiteKind(site.kind)
    changes = data.model_fields_set
    before = snapshot(visit, VISIT_AUDITED_FIELDS)
    before["counts"] = _counts_snapshot(session, visit.id)
    if "counts" in changes and data.counts is not None:
        by_id, by_cd_nom = species_lookup(session, settings, data.counts)
        counts, errors = check_counts(kind, data.counts, by_id, by_cd_nom)
        raise_for(errors)
        for old in session.exec(select(VisitCount).where(col(VisitCount.visit_id) == visit.id)):
            session.delete(old)
        session.flush()
        rows = _count_rows(visit.id, kind, counts)
        if rows:
            session.connection().execute(COUNT_TABLE.insert(), rows)
    for name in ("started_at", "duration_min", "observers", "complete", "notes"):
        if name in changes:
            setattr(visit, name, getattr(data, name))
    if "weather" in changes:
        for name, value in _weather_columns(data.weather).items():
            setattr(visit, name, value)
    visit.flags = flags_for(kind, visit.started_at, settings.tz)
    back_to_review(visit)
    session.add(visit)
    session.flush()
    after = snapshot(visit, VISIT_AUDITED_FIELDS)
    after["counts"] = _counts_snapshot(session, visit.id)
    audit_update(
        session, actor=editor, entity=AuditEntity.visit, record=visit, before=before, after=after
    )
    return read_visit(session, visit=visit, site=site)


def delete_visit(session: Session, *, visit: Visit, actor: User) -> None:
    """Soft delete, audited: phones syncing with ``updated_since`` learn of it."""
    delete_audited(session, visit, actor=actor, entity=AuditEntity.visit)


@dataclass(frozen=True, slots=True)
class VisitFilters:
    site_id: uuid.UUID | None = None
    status: ObservationStatus | None = None
    updated_since: datetime | None = None


def list_visits(
    session: Session, *, viewer: Viewer, filters: VisitFilters, limit: int, cursor: str | None
) -> VisitPage:
    """Visits at the sites ``viewer`` may see (staff: every site), and the visits they made
    themselves. Newest first; with ``updated_since``, oldest change first, tombstones
    included."""
    clauses: list[ColumnElement[bool]] = []
    if not is_staff(viewer):
        clauses.append(or_(col(Site.owner_id) == viewer.id, col(Visit.observer_id) == viewer.id))
    if filters.site_id is not None:
        clauses.append(col(Visit.site_id) == filters.site_id)
    if filters.status is not None:
        clauses.append(col(Visit.status) == filters.status.value)
    clauses.append(VISITS.window(filters.updated_since))
    sync = filters.updated_since is not None
    statement = select(Visit, Site.kind).join(Site, col(Site.id) == col(Visit.site_id))
    rows, next_cursor = VISITS.fetch(
        session, statement, clauses, cursor=cursor, sync=sync, limit=limit
    )
    counts = counts_of(session, [visit.id for visit, _ in rows if visit.deleted_at is None])
    items = [present_visit(visit, SiteKind(k), counts.get(visit.id, ())) for visit, k in rows]
    return VisitPage(items=items, next_cursor=next_cursor)
