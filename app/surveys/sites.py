"""Survey sites: idempotent creation by ``client_id``, edits, soft deletion with their visits,
and the lists (newest first, or the sync list with tombstones).

Who sees a site: its owner and staff (ecologists, admins). A garden is a home and a façade is a
street address, so sites and their visits are never public; what the public sees of the
protocols is their aggregated statistics.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement
from sqlmodel import Session, col, select

from app.core.db import new_id, utcnow
from app.core.errors import FieldError
from app.core.settings import Settings
from app.core.viewer import Viewer, is_staff
from app.records.lifecycle import live, raise_for, tombstone
from app.surveys.common import SITE_CAPTURE, SITES
from app.surveys.models import Site, Visit
from app.surveys.presenting import present_site
from app.surveys.schemas import (
    SiteCreate,
    SitePage,
    SitePublic,
    SiteUpdate,
    geometry_error,
    geometry_text,
)
from app.surveys.yearly import SiteKind
from app.zones import service as zones_service


def can_see_site(viewer: Viewer | None, site: Site) -> bool:
    return viewer is not None and (viewer.id == site.owner_id or is_staff(viewer))


def create_site(
    session: Session,
    settings: Settings,
    *,
    owner_id: uuid.UUID,
    data: SiteCreate,
    class_id: uuid.UUID | None = None,
) -> tuple[SitePublic, bool]:
    """The site and whether it was created now (False: this ``client_id`` was stored before
    and the stored site is returned unchanged). ``class_id``: the class whose pupil's token
    created it (``Viewer.class_id``)."""
    now = utcnow()
    row = {
        "id": new_id(),
        "client_id": data.client_id,
        "owner_id": owner_id,
        "class_id": class_id,
        "kind": data.kind.value,
        "name": data.name,
        "latitude": data.latitude,
        "longitude": data.longitude,
        "geometry": geometry_text(data.geometry),
        "zone_id": zones_service.locate_zone(
            session, settings, latitude=data.latitude, longitude=data.longitude
        ),
        "created_at": now,
        "updated_at": now,
        "deleted_at": None,
    }
    if SITE_CAPTURE.insert_missing(session, [row]):
        return present_site(Site.model_validate(row)), True
    stored: Site = SITE_CAPTURE.stored(
        session, select(Site), owner_id=owner_id, client_id=data.client_id
    )
    return present_site(stored), False


def get_site(session: Session, site_id: uuid.UUID) -> Site | None:
    """The site, None when unknown or deleted."""
    return live(session, Site, site_id)


def update_site(
    session: Session, settings: Settings, *, site: Site, data: SiteUpdate
) -> SitePublic:
    changes = data.model_fields_set
    if "geometry" in changes:
        error = geometry_error(SiteKind(site.kind), data.geometry)
        if error is not None:
            raise_for(
                [FieldError(field="geometry", message=error, code="site.geometry_kind_mismatch")]
            )
        site.geometry = geometry_text(data.geometry)
    for name in ("name", "latitude", "longitude"):
        if name in changes:
            setattr(site, name, getattr(data, name))
    if changes & {"latitude", "longitude"}:
        site.zone_id = zones_service.locate_zone(
            session, settings, latitude=site.latitude, longitude=site.longitude
        )
    site.updated_at = utcnow()
    session.add(site)
    session.flush()
    return present_site(site)


def delete_site(session: Session, *, site: Site) -> None:
    """Soft delete of the site and of its visits, so that syncing phones learn of both."""
    now = utcnow()
    for visit in session.exec(
        select(Visit).where(col(Visit.site_id) == site.id, col(Visit.deleted_at).is_(None))
    ):
        tombstone(session, visit, now)
    tombstone(session, site, now)
    session.flush()


@dataclass(frozen=True, slots=True)
class SiteFilters:
    mine: bool = False
    kind: SiteKind | None = None
    zone_id: uuid.UUID | None = None
    updated_since: datetime | None = None


def list_sites(
    session: Session, *, viewer: Viewer, filters: SiteFilters, limit: int, cursor: str | None
) -> SitePage:
    """The sites ``viewer`` may see: their own, or every site for staff. Newest first; with
    ``updated_since``, oldest change first with deletions as tombstones."""
    clauses: list[ColumnElement[bool]] = []
    if filters.mine or not is_staff(viewer):
        clauses.append(col(Site.owner_id) == viewer.id)
    clauses.append(SITES.window(filters.updated_since))
    if filters.kind is not None:
        clauses.append(col(Site.kind) == filters.kind.value)
    if filters.zone_id is not None:
        clauses.append(col(Site.zone_id) == filters.zone_id)
    sync = filters.updated_since is not None
    rows, next_cursor = SITES.fetch(
        session, select(Site), clauses, cursor=cursor, sync=sync, limit=limit
    )
    return SitePage(items=[present_site(site) for site in rows], next_cursor=next_cursor)


def live_sites(session: Session, *, zone_id: uuid.UUID | None = None) -> dict[uuid.UUID, Site]:
    """Every site not deleted (of the zone), by id."""
    clauses: list[Any] = [col(Site.deleted_at).is_(None)]
    if zone_id is not None:
        clauses.append(col(Site.zone_id) == zone_id)
    return {site.id: site for site in session.exec(select(Site).where(*clauses))}
