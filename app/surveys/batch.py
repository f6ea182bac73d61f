"""A batch of visits from a phone back online: each item stored or refused on its own, the
answers in the order sent; the sites and species it names are read once for the whole batch.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlmodel import Session, col, select

from app.core.errors import FieldError
from app.core.settings import Settings
from app.core.viewer import Viewer
from app.records.lifecycle import client_id_of, parse_item, rejected
from app.records.schemas import BatchResponse, BatchResult, BatchStatus
from app.surveys.checks import check_counts, species_lookup
from app.surveys.models import Site
from app.surveys.schemas import VisitBatchItem
from app.surveys.visits import insert_visit, may_add_visit
from app.surveys.yearly import SiteKind

_NOT_AN_OBJECT = FieldError(
    field="body", message="Each item must be a JSON object.", code="visit.not_an_object"
)


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


def add_visits(
    session: Session, settings: Settings, *, observer: Viewer, items: Sequence[Any]
) -> BatchResponse:
    """Stores the valid visits of a batch; answers for each item, in the order sent."""
    parsed = [parse_item(VisitBatchItem, item, not_an_object=_NOT_AN_OBJECT) for item in items]
    valid = [p for p in parsed if isinstance(p, VisitBatchItem)]
    sites_by_id, sites_by_client_id = _batch_sites(session, observer, valid)
    by_id, by_cd_nom = species_lookup(session, settings, (c for p in valid for c in p.counts))

    results: list[BatchResult] = []
    for item, p in zip(items, parsed, strict=True):
        if not isinstance(p, VisitBatchItem):
            results.append(rejected(client_id_of(item), p))
            continue
        site = (
            sites_by_id.get(p.site_id)
            if p.site_id is not None
            else sites_by_client_id.get(p.site_client_id)  # type: ignore[arg-type]
        )
        if site is None or not may_add_visit(observer, site):
            field = "site_id" if p.site_id is not None else "site_client_id"
            message = "No site of yours has this id."
            error = FieldError(field=field, message=message, code="visit.unknown_site")
            results.append(rejected(p.client_id, [error]))
            continue
        counts, errors = check_counts(SiteKind(site.kind), p.counts, by_id, by_cd_nom)
        if errors:
            results.append(rejected(p.client_id, errors))
            continue
        visit_id, created = insert_visit(
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
