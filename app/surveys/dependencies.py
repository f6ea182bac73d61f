"""Load-or-refuse dependencies for sites and visits.

A site the caller may not see answers 404 like one that does not exist: a garden's existence
and place are the owner's business.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Path, Query

from app.accounts.dependencies import CurrentViewer
from app.core.deps import SessionDep
from app.core.errors import Forbidden, NotFound
from app.core.pagination import UpdatedSinceQuery, parse_updated_since
from app.core.viewer import Viewer, is_staff
from app.records.models import ObservationStatus
from app.surveys import sites, visits
from app.surveys.models import Site, Visit
from app.surveys.sites import SiteFilters, can_see_site
from app.surveys.visits import VisitFilters
from app.surveys.yearly import SiteKind


def _site_not_found() -> NotFound:
    return NotFound("No such site.", code="site.not_found")


def _visit_not_found() -> NotFound:
    return NotFound("No such visit.", code="visit.not_found")


def visible_site(
    session: SessionDep,
    user: CurrentViewer,
    site_id: Annotated[uuid.UUID, Path(description="The site's server id.")],
) -> Site:
    site = sites.get_site(session, site_id)
    if site is None or not can_see_site(user, site):
        raise _site_not_found()
    return site


VisibleSite = Annotated[Site, Depends(visible_site)]


def owned_site(user: CurrentViewer, site: VisibleSite) -> Site:
    """The caller's own site: only its owner changes it."""
    if site.owner_id != user.id:
        raise Forbidden("Only its owner may change this site.", code="site.not_owner")
    return site


OwnedSite = Annotated[Site, Depends(owned_site)]


def removable_site(user: CurrentViewer, site: VisibleSite) -> Site:
    """Visible means owned or staff: both may delete it."""
    return site


RemovableSite = Annotated[Site, Depends(removable_site)]


def countable_site(user: CurrentViewer, site: VisibleSite) -> Site:
    if not visits.may_add_visit(user, site):
        raise Forbidden("Only its owner may record visits at this site.", code="site.not_owner")
    return site


CountableSite = Annotated[Site, Depends(countable_site)]


def _can_see_visit(user: Viewer, visit: Visit, site: Site) -> bool:
    return visit.observer_id == user.id or can_see_site(user, site)


def visible_visit(
    session: SessionDep,
    user: CurrentViewer,
    visit_id: Annotated[uuid.UUID, Path(description="The visit's server id.")],
) -> tuple[Visit, Site]:
    found = visits.get_visit(session, visit_id)
    if found is None or not _can_see_visit(user, *found):
        raise _visit_not_found()
    return found


VisibleVisit = Annotated[tuple[Visit, Site], Depends(visible_visit)]


def owned_visit(user: CurrentViewer, found: VisibleVisit) -> tuple[Visit, Site]:
    """The caller's own visit: only its observer corrects it."""
    if found[0].observer_id != user.id:
        raise Forbidden("Only its observer may change this visit.", code="visit.not_observer")
    return found


OwnedVisit = Annotated[tuple[Visit, Site], Depends(owned_visit)]


def removable_visit(user: CurrentViewer, found: VisibleVisit) -> tuple[Visit, Site]:
    """Its observer, the site's owner, or staff."""
    visit, site = found
    if visit.observer_id != user.id and site.owner_id != user.id and not is_staff(user):
        raise Forbidden(
            "Only its observer, the site's owner or an ecologist may delete this visit.",
            code="visit.not_observer",
        )
    return found


RemovableVisit = Annotated[tuple[Visit, Site], Depends(removable_visit)]


def site_filters(
    mine: Annotated[
        bool, Query(description="Only the caller's own sites (for staff, who see every site).")
    ] = False,
    kind: Annotated[SiteKind | None, Query()] = None,
    zone_id: Annotated[uuid.UUID | None, Query()] = None,
    updated_since: UpdatedSinceQuery = None,
) -> SiteFilters:
    return SiteFilters(
        mine=mine,
        kind=kind,
        zone_id=zone_id,
        updated_since=parse_updated_since(updated_since) if updated_since is not None else None,
    )


SiteFiltersDep = Annotated[SiteFilters, Depends(site_filters)]


def visit_filters(
    status: Annotated[ObservationStatus | None, Query()] = None,
    updated_since: UpdatedSinceQuery = None,
) -> VisitFilters:
    return VisitFilters(
        status=status,
        updated_since=parse_updated_since(updated_since) if updated_since is not None else None,
    )


VisitFiltersDep = Annotated[VisitFilters, Depends(visit_filters)]
