"""Survey sites and visits: idempotent capture (single and batch), sync lists, edits, and each
site's yearly values by the protocols' rules (``app.surveys.yearly``).

Who sees a site: its owner and staff (ecologists, admins). A garden is a home and a façade is a
street address, so sites and their visits are never public; what the public sees of the
protocols is their aggregated statistics.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy import ColumnElement, Table, and_, inspect, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from app.accounts.models import User
from app.audit import service as audit
from app.audit.models import AuditAction, AuditEntity
from app.audit.service import diff, snapshot
from app.core.db import insert_if_absent, new_id, utcnow
from app.core.errors import Conflict, FieldError, Unprocessable, validation_errors
from app.core.pagination import decode_position, encode_position
from app.core.settings import Settings
from app.core.validation import item_errors
from app.core.viewer import Viewer, is_staff
from app.observations.models import EDITABLE_STATUSES, ObservationStatus
from app.observations.schemas import BatchResponse, BatchResult, BatchStatus
from app.species import service as species_service
from app.species.models import Species
from app.species.taxref import SpeciesGroup
from app.surveys.models import Site, Visit, VisitCount, VisitFlag
from app.surveys.schemas import (
    SiteCreate,
    SitePage,
    SitePublic,
    SiteUpdate,
    VisitBatchItem,
    VisitCountIn,
    VisitCountPublic,
    VisitCreate,
    VisitPage,
    VisitPublic,
    VisitUpdate,
    Weather,
    YearlyItem,
    YearlyResponse,
    geometry_error,
    geometry_text,
)
from app.surveys.yearly import SiteKind, VisitCounts, yearly_values
from app.zones import service as zones_service

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

# The months each protocol counts in (local time); a visit outside them is flagged, not refused.
SEASON_MONTHS = {
    SiteKind.nest_site: range(4, 9),  # April–August: swallows and swifts breed
    SiteKind.garden: range(3, 11),  # March–October: Opération Papillons
    SiteKind.transect: range(3, 11),
}


def _table(model: type) -> Table:
    table: Any = inspect(model).local_table
    assert isinstance(table, Table)
    return table


SITE_TABLE = _table(Site)
VISIT_TABLE = _table(Visit)
COUNT_TABLE = _table(VisitCount)

_NEWEST_FIRST = "s"
_CHANGES = "c"


def _raise_for(errors: list[FieldError]) -> None:
    if errors:
        raise Unprocessable(
            "; ".join(f"{e.field}: {e.message}" for e in errors),
            code=errors[0].code,
            errors=errors,
        )


def _parse(model: type[Any], item: Any) -> Any:
    """``item`` validated as ``model``, or the errors that refuse it (batch items)."""
    if not isinstance(item, Mapping):
        return [
            FieldError(
                field="body", message="Each item must be a JSON object.", code="visit.not_an_object"
            )
        ]
    if unstorable := item_errors(item):
        return unstorable
    try:
        return model.model_validate(item)
    except ValidationError as exc:
        return validation_errors(exc.errors(include_url=False, include_input=False))


# --- sites -----------------------------------------------------------------------------------


def can_see_site(viewer: Viewer | None, site: Site) -> bool:
    return viewer is not None and (viewer.id == site.owner_id or is_staff(viewer))


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


def _stored_site(session: Session, *, owner_id: uuid.UUID, client_id: uuid.UUID) -> Site:
    statement = select(Site).where(col(Site.owner_id) == owner_id, col(Site.client_id) == client_id)
    site = session.exec(statement).one_or_none()
    if site is None:
        raise Conflict(
            "Another request with this client_id was in progress; send it again.",
            code="site.client_id_in_flight",
        )
    return site


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
    created = insert_if_absent(session, SITE_TABLE, row, unique=("owner_id", "client_id"))
    if created:
        return present_site(Site.model_validate(row)), True
    return present_site(_stored_site(session, owner_id=owner_id, client_id=data.client_id)), False


def get_site(session: Session, site_id: uuid.UUID) -> Site | None:
    """The site, None when unknown or deleted."""
    site = session.get(Site, site_id)
    if site is None or site.deleted_at is not None:
        return None
    return site


def update_site(
    session: Session, settings: Settings, *, site: Site, data: SiteUpdate
) -> SitePublic:
    changes = data.model_fields_set
    if "geometry" in changes:
        error = geometry_error(SiteKind(site.kind), data.geometry)
        if error is not None:
            _raise_for(
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
        visit.deleted_at = now
        visit.updated_at = now
        session.add(visit)
    site.deleted_at = now
    site.updated_at = now
    session.add(site)
    session.flush()


@dataclass(frozen=True, slots=True)
class SiteFilters:
    mine: bool = False
    kind: SiteKind | None = None
    zone_id: uuid.UUID | None = None
    updated_since: datetime | None = None


def _keyset(
    clauses: list[ColumnElement[bool]],
    *,
    cursor: str | None,
    sync: bool,
    at_column: Any,
    id_column: Any,
) -> tuple[str, tuple[Any, Any]]:
    """Adds the cursor's condition to ``clauses``; the cursor kind and the ORDER BY."""
    kind = _CHANGES if sync else _NEWEST_FIRST
    if cursor is not None:
        at, last_id = decode_position(cursor, kind=kind)
        if sync:
            clauses.append(or_(at_column > at, and_(at_column == at, id_column > last_id)))
        else:
            clauses.append(or_(at_column < at, and_(at_column == at, id_column < last_id)))
    order = (at_column.asc(), id_column.asc()) if sync else (at_column.desc(), id_column.desc())
    return kind, order


def list_sites(
    session: Session, *, viewer: Viewer, filters: SiteFilters, limit: int, cursor: str | None
) -> SitePage:
    """The sites ``viewer`` may see: their own, or every site for staff. Newest first; with
    ``updated_since``, oldest change first with deletions as tombstones."""
    clauses: list[ColumnElement[bool]] = []
    if filters.mine or not is_staff(viewer):
        clauses.append(col(Site.owner_id) == viewer.id)
    if filters.updated_since is None:
        clauses.append(col(Site.deleted_at).is_(None))
    else:
        clauses.append(col(Site.updated_at) >= filters.updated_since)
    if filters.kind is not None:
        clauses.append(col(Site.kind) == filters.kind.value)
    if filters.zone_id is not None:
        clauses.append(col(Site.zone_id) == filters.zone_id)
    sync = filters.updated_since is not None
    at_column = col(Site.updated_at) if sync else col(Site.created_at)
    kind, order = _keyset(
        clauses, cursor=cursor, sync=sync, at_column=at_column, id_column=col(Site.id)
    )
    rows = session.exec(select(Site).where(*clauses).order_by(*order).limit(limit + 1)).all()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_position(kind, last.updated_at if sync else last.created_at, last.id)
    return SitePage(items=[present_site(site) for site in rows], next_cursor=next_cursor)


# --- visits: checking ------------------------------------------------------------------------


def _species_error(field: str, message: str, code: str) -> FieldError:
    return FieldError(field=field, message=message, code=code)


def _count_species(
    entry: VisitCountIn, by_id: Mapping[uuid.UUID, Species], by_cd_nom: Mapping[int, Species]
) -> Species | None:
    if entry.species_id is not None:
        return by_id.get(entry.species_id)
    assert entry.cd_nom is not None
    return by_cd_nom.get(entry.cd_nom)


def _species_lookup(
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


# --- visits: presenting ----------------------------------------------------------------------


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


# --- visits: writing -------------------------------------------------------------------------


def _stored_visit(session: Session, *, observer_id: uuid.UUID, client_id: uuid.UUID) -> Visit:
    statement = select(Visit).where(
        col(Visit.observer_id) == observer_id, col(Visit.client_id) == client_id
    )
    visit = session.exec(statement).one_or_none()
    if visit is None:
        raise Conflict(
            "Another request with this client_id was in progress; send it again.",
            code="visit.client_id_in_flight",
        )
    return visit


def _insert_visit(
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
    if not insert_if_absent(session, VISIT_TABLE, row, unique=("observer_id", "client_id")):
        stored = _stored_visit(session, observer_id=observer_id, client_id=data.client_id)
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
    by_id, by_cd_nom = _species_lookup(session, settings, data.counts)
    counts, errors = check_counts(SiteKind(site.kind), data.counts, by_id, by_cd_nom)
    _raise_for(errors)
    visit_id, created = _insert_visit(
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


def _batch_sites(
    session: Session, viewer: Viewer, items: Sequence[VisitBatchItem]
) -> tuple[dict[uuid.UUID, Site], dict[uuid.UUID, Site]]:
    """The sites a batch names, ``({id: site}, {client_id: site})``, in two queries."""
    ids = {item.site_id for item in items if item.site_id is not None}
    client_ids = {
        item.site_client_id
        for item in items
        if item.site_id is None and item.site_client_id is not None
    }
    by_id: dict[uuid.UUID, Site] = {}
    by_client_id: dict[uuid.UUID, Site] = {}
    if ids:
        statement = select(Site).where(col(Site.id).in_(ids), col(Site.deleted_at).is_(None))
        by_id = {site.id: site for site in session.exec(statement)}
    if client_ids:
        statement = select(Site).where(
            col(Site.owner_id) == viewer.id,
            col(Site.client_id).in_(client_ids),
            col(Site.deleted_at).is_(None),
        )
        by_client_id = {site.client_id: site for site in session.exec(statement)}
    return by_id, by_client_id


def may_add_visit(user: Viewer, site: Site) -> bool:
    """The site's owner counts at it; so may ecologists and admins (the CPIE's own surveys)."""
    return user.id == site.owner_id or is_staff(user)


def add_visits(
    session: Session, settings: Settings, *, observer: Viewer, items: Sequence[Any]
) -> BatchResponse:
    """Stores the valid visits of a batch; answers for each item, in the order sent."""
    parsed = [_parse(VisitBatchItem, item) for item in items]
    valid = [p for p in parsed if isinstance(p, VisitBatchItem)]
    sites_by_id, sites_by_client_id = _batch_sites(session, observer, valid)
    by_id, by_cd_nom = _species_lookup(session, settings, (c for p in valid for c in p.counts))

    results: list[BatchResult] = []
    for item, p in zip(items, parsed, strict=True):
        if not isinstance(p, VisitBatchItem):
            client_id = item.get("client_id") if isinstance(item, Mapping) else None
            try:
                readable = uuid.UUID(client_id) if isinstance(client_id, str) else None
            except ValueError:
                readable = None
            results.append(
                BatchResult(client_id=readable, status=BatchStatus.rejected, id=None, errors=p)
            )
            continue
        site = (
            sites_by_id.get(p.site_id)
            if p.site_id is not None
            else sites_by_client_id.get(p.site_client_id)  # type: ignore[arg-type]
        )
        if site is None or not may_add_visit(observer, site):
            field = "site_id" if p.site_id is not None else "site_client_id"
            message = "No site of yours has this id."
            results.append(
                BatchResult(
                    client_id=p.client_id,
                    status=BatchStatus.rejected,
                    id=None,
                    errors=[FieldError(field=field, message=message, code="visit.unknown_site")],
                )
            )
            continue
        counts, errors = check_counts(SiteKind(site.kind), p.counts, by_id, by_cd_nom)
        if errors:
            results.append(
                BatchResult(
                    client_id=p.client_id, status=BatchStatus.rejected, id=None, errors=errors
                )
            )
            continue
        visit_id, created = _insert_visit(
            session,
            settings,
            site=site,
            observer_id=observer.id,
            pupil_id=observer.pupil_id,
            data=p,
            counts=counts,
        )
        results.append(
            BatchResult(
                client_id=p.client_id,
                status=BatchStatus.created if created else BatchStatus.existing,
                id=visit_id,
            )
        )
    return BatchResponse(results=results)


def get_visit(session: Session, visit_id: uuid.UUID) -> tuple[Visit, Site] | None:
    """The visit and its site, None when unknown or deleted."""
    visit = session.get(Visit, visit_id)
    if visit is None or visit.deleted_at is not None:
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
    if visit.status not in EDITABLE_STATUSES:
        raise Conflict(
            f"A visit that is {visit.status} can no longer be edited.",
            code="visit.not_editable",
        )
    kind = SiteKind(site.kind)
    changes = data.model_fields_set
    before = snapshot(visit, VISIT_AUDITED_FIELDS)
    before["counts"] = _counts_snapshot(session, visit.id)
    if "counts" in changes and data.counts is not None:
        by_id, by_cd_nom = _species_lookup(session, settings, data.counts)
        counts, errors = check_counts(kind, data.counts, by_id, by_cd_nom)
        _raise_for(errors)
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
    if visit.status == ObservationStatus.validated.value:
        visit.status = ObservationStatus.pending.value
    visit.updated_at = utcnow()
    session.add(visit)
    session.flush()
    after = snapshot(visit, VISIT_AUDITED_FIELDS)
    after["counts"] = _counts_snapshot(session, visit.id)
    changed = diff(before, after)
    if changed:
        audit.record(
            session,
            actor_id=editor.id,
            entity=AuditEntity.visit,
            entity_id=visit.id,
            action=AuditAction.update,
            changes=changed,
        )
    return read_visit(session, visit=visit, site=site)


def delete_visit(session: Session, *, visit: Visit, actor: User) -> None:
    now = utcnow()
    visit.deleted_at = now
    visit.updated_at = now
    session.add(visit)
    audit.record(
        session,
        actor_id=actor.id,
        entity=AuditEntity.visit,
        entity_id=visit.id,
        action=AuditAction.delete,
        changes={"deleted_at": [None, now]},
    )
    session.flush()


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
    if filters.updated_since is None:
        clauses.append(col(Visit.deleted_at).is_(None))
    else:
        clauses.append(col(Visit.updated_at) >= filters.updated_since)
    sync = filters.updated_since is not None
    at_column = col(Visit.updated_at) if sync else col(Visit.started_at)
    kind, order = _keyset(
        clauses, cursor=cursor, sync=sync, at_column=at_column, id_column=col(Visit.id)
    )
    statement = (
        select(Visit, Site.kind)
        .join(Site, col(Site.id) == col(Visit.site_id))
        .where(*clauses)
        .order_by(*order)
        .limit(limit + 1)
    )
    rows = session.exec(statement).all()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1][0]
        next_cursor = encode_position(kind, last.updated_at if sync else last.started_at, last.id)
    counts = counts_of(session, [visit.id for visit, _ in rows if visit.deleted_at is None])
    items = [present_visit(visit, SiteKind(k), counts.get(visit.id, ())) for visit, k in rows]
    return VisitPage(items=items, next_cursor=next_cursor)


# --- yearly values ---------------------------------------------------------------------------

# The visits that count towards a site's yearly values as its owner reads them: everything not
# rejected, so that a sentinel sees this spring's figure as soon as the visit is synced. The
# statistics pass ``validated`` only.
COUNTED_STATUSES = (
    ObservationStatus.pending.value,
    ObservationStatus.needs_info.value,
    ObservationStatus.validated.value,
)


def live_sites(session: Session, *, zone_id: uuid.UUID | None = None) -> dict[uuid.UUID, Site]:
    """Every site not deleted (of the zone), by id."""
    clauses: list[Any] = [col(Site.deleted_at).is_(None)]
    if zone_id is not None:
        clauses.append(col(Site.zone_id) == zone_id)
    return {site.id: site for site in session.exec(select(Site).where(*clauses))}


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
