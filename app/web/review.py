"""The CPIE's review workbench: the queues of observations and survey visits awaiting a
decision, each record with what an ecologist needs to decide (photos, map, flags explained,
the observer's record), and the decisions themselves, one by one from the keyboard or several
at once.

Everything goes through the API's review service (``app.review.service``): the same queue and
its keyset pages, the same decision functions, the same bulk review all or nothing. The forms
are plain HTML POSTs (CSRF-checked) that work without JavaScript; ``review.js`` adds the
keyboard shortcuts and the map.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session, col, select

from app.accounts.models import User
from app.classes.models import Pupil
from app.core.deps import SessionDep
from app.core.errors import NotFound, Unprocessable
from app.media.dependencies import StorageDep
from app.media.models import PhotoVariant
from app.observations import photos as photos_service
from app.observations import service as observations_service
from app.observations.flags import FLAGS
from app.observations.models import Observation, ObservationStatus
from app.observations.schemas import MAX_BATCH, MAX_NOTES
from app.observations.visibility import can_see
from app.records.history import reviews_of
from app.records.models import Decision, ReviewTarget
from app.review import service
from app.review.schemas import QueueFilters, ReviewRequest
from app.species import service as species_service
from app.species.models import Species
from app.surveys import presenting as surveys_presenting
from app.surveys import visits as visits_service
from app.surveys.models import Site, Visit
from app.surveys.yearly import SiteKind
from app.web.auth import CSRF, EcologistPage, viewer
from app.web.templating import render
from app.zones.models import Zone

router = APIRouter(include_in_schema=False)

QUEUE_LIMIT = 50

GROUPS = {
    "bird": "Oiseaux",
    "butterfly": "Papillons de jour",
    "moth": "Papillons de nuit",
    "insect": "Autres insectes",
    "amphibian": "Amphibiens",
    "reptile": "Reptiles",
    "mammal": "Mammifères",
    "plant": "Plantes",
    "fungus": "Champignons",
    "other": "Autres",
}
STATUSES = {
    "pending": "En attente",
    "needs_info": "Information demandée",
    "validated": "Validée",
    "rejected": "Refusée",
}
QUEUE_STATUSES = ("pending", "needs_info")
SITE_KINDS = {
    SiteKind.nest_site.value: "Façade à nids",
    SiteKind.garden.value: "Jardin",
    SiteKind.transect.value: "Transect",
}
DONE = {
    ReviewTarget.observation: {
        "validated": ("Observation validée.", "observations validées"),
        "rejected": ("Observation refusée.", "observations refusées"),
        "needs_info": ("Information demandée à l'observateur.", "demandes d'information"),
    },
    ReviewTarget.visit: {
        "validated": ("Visite validée.", "visites validées"),
        "rejected": ("Visite refusée.", "visites refusées"),
        "needs_info": ("Information demandée à l'observateur.", "demandes d'information"),
    },
}
COMMENT_NEEDED = {
    "rejected": "Expliquez à l'observateur pourquoi l'observation est refusée.",
    "needs_info": "Dites à l'observateur quelle information il manque.",
}


# --- filters ---------------------------------------------------------------------------------


@dataclass
class PageFilters:
    """The queue's filters as the page's form sends them, each checked; a value that is not
    valid is left out, with a French message next to its field."""

    status: str = ""
    group: str = ""
    flag: str = ""
    zone: str = ""
    date_from: str = ""
    date_to: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    def queue(self) -> QueueFilters:
        return QueueFilters(
            status=ObservationStatus(self.status) if self.status else None,
            group=self.group or None,
            zone_id=uuid.UUID(self.zone) if self.zone else None,
            observed_from=date.fromisoformat(self.date_from) if self.date_from else None,
            observed_to=date.fromisoformat(self.date_to) if self.date_to else None,
            flag=self.flag or None,
        )

    def query(self, **extra: str) -> str:
        """The filters (and ``extra``) as a query string, empty values left out."""
        values = {
            "statut": self.status,
            "groupe": self.group,
            "signalement": self.flag,
            "zone": self.zone,
            "du": self.date_from,
            "au": self.date_to,
            **extra,
        }
        return urlencode({k: v for k, v in values.items() if v})

    @property
    def active(self) -> bool:
        return bool(self.query())


def read_filters(values: Mapping[str, str]) -> PageFilters:
    found = PageFilters()
    status = values.get("statut", "").strip()
    if status:
        if status in QUEUE_STATUSES:
            found.status = status
        else:
            found.errors["statut"] = "Choisissez un statut de la liste."
    group = values.get("groupe", "").strip()
    if group:
        if group in GROUPS:
            found.group = group
        else:
            found.errors["groupe"] = "Choisissez un groupe de la liste."
    flag = values.get("signalement", "").strip()
    if flag:
        if flag in FLAGS:
            found.flag = flag
        else:
            found.errors["signalement"] = "Choisissez un signalement de la liste."
    zone = values.get("zone", "").strip()
    if zone:
        try:
            found.zone = str(uuid.UUID(zone))
        except ValueError:
            found.errors["zone"] = "Choisissez une zone de la liste."
    for name, attribute in (("du", "date_from"), ("au", "date_to")):
        raw = values.get(name, "").strip()
        if raw:
            try:
                date.fromisoformat(raw)
                setattr(found, attribute, raw)
            except ValueError:
                found.errors[name] = "Indiquez une date au format jj/mm/aaaa."
    if found.date_from and found.date_to and found.date_from > found.date_to:
        found.errors["au"] = "La date de fin doit suivre la date de début."
        found.date_to = ""
    return found


def filters_from_back(back: str) -> PageFilters:
    """The filters a form carried along (the queue's query string) to come back to them."""
    return read_filters(dict(parse_qsl(back[:2000])))


def _zones(session: Session) -> list[tuple[uuid.UUID, str, str]]:
    """The zones for the filter's list and the records' zone names (no geometry read)."""
    rows = session.exec(
        select(Zone.id, Zone.name, Zone.kind).order_by(col(Zone.kind), col(Zone.name))
    ).all()
    return [(zone_id, name, kind) for zone_id, name, kind in rows]


def _zone_name(session: Session, zone_id: uuid.UUID | None) -> str | None:
    """A zone's name only: its geometry (a commune's outline) is the map's, loaded by the page."""
    if zone_id is None:
        return None
    return session.exec(select(Zone.name).where(col(Zone.id) == zone_id)).first()


def _notice(target: ReviewTarget, values: Mapping[str, str]) -> str | None:
    done = values.get("fait", "")
    if done not in DONE[target]:
        return None
    one, many = DONE[target][done]
    try:
        number = int(values.get("nombre", "1"))
    except ValueError:
        number = 1
    if number > 1:
        return f"{number} {many}."
    return one


# --- the queues ------------------------------------------------------------------------------


def _queue_context(
    request: Request, session: Session, target: ReviewTarget, filters: PageFilters, cursor: str
) -> dict[str, Any]:
    settings = request.app.state.settings
    if target is ReviewTarget.observation:
        page: Any = service.observation_queue(
            session, settings, filters=filters.queue(), limit=QUEUE_LIMIT, cursor=cursor or None
        )
    else:
        page = service.visit_queue(
            session, settings, filters=filters.queue(), limit=QUEUE_LIMIT, cursor=cursor or None
        )
    zones = _zones(session)
    return {
        "target": target.value,
        "items": page.items,
        "next_cursor": page.next_cursor,
        "first_page": not cursor,
        "filters": filters,
        "zones": zones,
        "zone_names": {str(z[0]): z[1] for z in zones},
        "groups": GROUPS,
        "flags": FLAGS,
        "statuses": STATUSES,
        "queue_statuses": QUEUE_STATUSES,
        "site_kinds": SITE_KINDS,
        "notice": _notice(target, request.query_params),
        "max_batch": MAX_BATCH,
    }


def _render_queue(
    request: Request,
    session: Session,
    target: ReviewTarget,
    filters: PageFilters,
    cursor: str = "",
    *,
    error: str | None = None,
    selected: frozenset[str] = frozenset(),
    status_code: int = 200,
) -> Response:
    context = _queue_context(request, session, target, filters, cursor)
    context.update(bulk_error=error, selected=selected)
    template = "review/queue.html" if target is ReviewTarget.observation else "review/visits.html"
    return render(request, template, context, status_code=status_code)


@router.get("/review")
def observation_queue(
    request: Request, session: SessionDep, _user: EcologistPage, cursor: str = ""
) -> Response:
    filters = read_filters(request.query_params)
    return _render_queue(request, session, ReviewTarget.observation, filters, cursor[:500])


@router.get("/review/visits")
def visit_queue(
    request: Request, session: SessionDep, _user: EcologistPage, cursor: str = ""
) -> Response:
    filters = read_filters(request.query_params)
    return _render_queue(request, session, ReviewTarget.visit, filters, cursor[:500])


def _bulk(
    request: Request,
    session: Session,
    user: User,
    target: ReviewTarget,
    ids: list[str],
    back: str,
) -> Response:
    filters = filters_from_back(back)
    parsed: list[uuid.UUID] = []
    for raw in ids:
        try:
            parsed.append(uuid.UUID(raw))
        except ValueError:
            continue
    noun = "observation" if target is ReviewTarget.observation else "visite"

    def again(message: str) -> Response:
        return _render_queue(
            request,
            session,
            target,
            filters,
            error=message,
            selected=frozenset(str(i) for i in parsed),
            status_code=422,
        )

    if not parsed:
        return again(f"Cochez au moins une {noun} à valider.")
    if len(parsed) > MAX_BATCH:
        return again(f"Pas plus de {MAX_BATCH} à la fois.")
    try:
        done = service.bulk_review(
            session,
            target=target,
            ids=parsed,
            reviewer=user,
            decision=Decision.validated,
            comment=None,
        )
    except Unprocessable as exc:
        from app.web.router import french_message  # the router imports this module

        session.rollback()
        return again(french_message(exc.code, exc.detail))
    base = "/review" if target is ReviewTarget.observation else "/review/visits"
    query = filters.query(fait="validated", nombre=str(done.reviewed))
    return RedirectResponse(f"{base}?{query}", status_code=303)


@router.post("/review/bulk", dependencies=[CSRF])
def bulk_validate_observations(
    request: Request,
    session: SessionDep,
    user: EcologistPage,
    ids: Annotated[list[str], Form()] = [],  # noqa: B006
    back: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    return _bulk(request, session, user, ReviewTarget.observation, ids, back)


@router.post("/review/visits/bulk", dependencies=[CSRF])
def bulk_validate_visits(
    request: Request,
    session: SessionDep,
    user: EcologistPage,
    ids: Annotated[list[str], Form()] = [],  # noqa: B006
    back: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    return _bulk(request, session, user, ReviewTarget.visit, ids, back)


# --- one record ------------------------------------------------------------------------------


def _next_observation(
    session: Session, request: Request, observation: Observation, filters: PageFilters
) -> uuid.UUID | None:
    page = service.observation_queue(
        session,
        request.app.state.settings,
        filters=filters.queue(),
        limit=1,
        cursor=service.queue_cursor_after(observation.created_at, observation.id),
    )
    return page.items[0].id if page.items else None


def _next_visit(
    session: Session, request: Request, visit: Visit, filters: PageFilters
) -> uuid.UUID | None:
    page = service.visit_queue(
        session,
        request.app.state.settings,
        filters=filters.queue(),
        limit=1,
        cursor=service.queue_cursor_after(visit.created_at, visit.id),
    )
    return page.items[0].visit.id if page.items else None


def _observer(
    session: Session, target: ReviewTarget, record: Observation | Visit
) -> dict[str, Any]:
    """The observer's pseudonym (a pupil's, for a school class) and their validated records."""
    account = session.get(User, record.observer_id)
    pupil = None
    pupil_id = getattr(record, "pupil_id", None)
    if pupil_id is not None:
        found = session.get(Pupil, pupil_id)
        pupil = found.pseudonym if found is not None else None
    return {
        "name": account.display_name if account is not None else "Compte supprimé",
        "pupil": pupil,
        "tally": service.observer_tally(session, target, record.observer_id),
    }


def _load_observation(session: Session, user: User, observation_id: uuid.UUID) -> Observation:
    observation = observations_service.get_observation(session, observation_id)
    if observation is None or not can_see(viewer(user), observation):
        raise NotFound("No such observation.", code="observation.not_found")
    return observation


def _load_visit(session: Session, visit_id: uuid.UUID) -> tuple[Visit, Site]:
    found = visits_service.get_visit(session, visit_id)
    if found is None:
        raise NotFound("No such visit.", code="visit.not_found")
    return found


@dataclass
class DecisionForm:
    decision: str = ""
    comment: str = ""
    errors: dict[str, str] = field(default_factory=dict)


def _check_decision(decision: str, comment: str) -> tuple[ReviewRequest | None, DecisionForm]:
    form = DecisionForm(decision=decision, comment=comment)
    if decision not in {d.value for d in Decision}:
        form.errors["decision"] = "Choisissez : valider, refuser ou demander une information."
        return None, form
    text = comment.strip()
    if not text and decision in COMMENT_NEEDED:
        form.errors["comment"] = COMMENT_NEEDED[decision]
        return None, form
    if len(text) > MAX_NOTES:
        form.errors["comment"] = f"Le commentaire dépasse {MAX_NOTES} caractères."
        return None, form
    try:
        return ReviewRequest(decision=Decision(decision), comment=text or None), form
    except ValidationError:
        form.errors["comment"] = "Le commentaire contient des caractères non permis."
        return None, form


def _observation_page(
    request: Request,
    session: Session,
    user: User,
    observation: Observation,
    filters: PageFilters,
    form: DecisionForm | None = None,
    status_code: int = 200,
) -> Response:
    public = observations_service.read_observation(
        session, observation=observation, viewer=viewer(user)
    )
    species = species_service.get_species(session, observation.species_id)
    context = {
        "record": public,
        "species": species,
        "group_label": GROUPS.get(species.group, species.group),
        **_decision_context(
            request,
            ReviewTarget.observation,
            record_id=observation.id,
            next_id=_next_observation(session, request, observation, filters),
            filters=filters,
            form=form,
            zone=_zone_name(session, observation.zone_id),
            observer=_observer(session, ReviewTarget.observation, observation),
            flags=public.flags,
        ),
    }
    return render(request, "review/record.html", context, status_code=status_code)


def _decision_context(
    request: Request,
    target: ReviewTarget,
    *,
    record_id: uuid.UUID,
    next_id: uuid.UUID | None,
    filters: PageFilters,
    form: DecisionForm | None,
    zone: str | None,
    observer: dict[str, Any],
    flags: Sequence[str],
) -> dict[str, object]:
    """What a record's page (an observation or a visit) shows around the decision form: where
    it sits, who made it, its flags, the way back to the queue and on to the next record."""
    path = "/review" if target is ReviewTarget.observation else "/review/visits"
    return {
        "zone": zone,
        "observer": observer,
        "flags": service.explain(flags),
        "statuses": STATUSES,
        "filters": filters,
        "back": filters.query(),
        "next_url": f"{path}/{next_id}?{filters.query()}" if next_id else None,
        "form": form or DecisionForm(),
        "notice": _notice(target, request.query_params),
        "action": f"{path}/{record_id}",
        "queue_url": f"{path}?{filters.query()}",
    }


def _visit_page(
    request: Request,
    session: Session,
    visit: Visit,
    site: Site,
    filters: PageFilters,
    form: DecisionForm | None = None,
    status_code: int = 200,
) -> Response:
    public = surveys_presenting.read_visit(session, visit=visit, site=site)
    species_ids = [c.species_id for c in public.counts]
    names: dict[uuid.UUID, Species] = {}
    if species_ids:
        names = {
            s.id: s for s in session.exec(select(Species).where(col(Species.id).in_(species_ids)))
        }
    context = {
        "visit": public,
        "site": site,
        "site_kind": SITE_KINDS.get(site.kind, site.kind),
        "nests": site.kind == SiteKind.nest_site.value,
        "species_of": names,
        "reviews": reviews_of(session, ReviewTarget.visit, [visit.id])[visit.id],
        **_decision_context(
            request,
            ReviewTarget.visit,
            record_id=visit.id,
            next_id=_next_visit(session, request, visit, filters),
            filters=filters,
            form=form,
            zone=_zone_name(session, site.zone_id),
            observer=_observer(session, ReviewTarget.visit, visit),
            flags=visit.flags or [],
        ),
    }
    return render(request, "review/visit.html", context, status_code=status_code)


@router.get("/review/visits/{visit_id:uuid}")
def visit_record(
    request: Request, session: SessionDep, _user: EcologistPage, visit_id: uuid.UUID
) -> Response:
    visit, site = _load_visit(session, visit_id)
    return _visit_page(request, session, visit, site, read_filters(request.query_params))


@router.post("/review/visits/{visit_id:uuid}", dependencies=[CSRF])
def decide_visit(
    request: Request,
    session: SessionDep,
    user: EcologistPage,
    visit_id: uuid.UUID,
    decision: Annotated[str, Form(max_length=32)] = "",
    comment: Annotated[str, Form(max_length=MAX_NOTES * 2)] = "",
    back: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    visit, site = _load_visit(session, visit_id)
    filters = filters_from_back(back)
    review, form = _check_decision(decision, comment)
    if review is None:
        return _visit_page(request, session, visit, site, filters, form, status_code=422)
    service.review_visit(session, visit=visit, site=site, reviewer=user, review=review)
    next_id = _next_visit(session, request, visit, filters)
    query = filters.query(fait=review.decision.value)
    target = f"/review/visits/{next_id}?{query}" if next_id else f"/review/visits?{query}"
    return RedirectResponse(target, status_code=303)


@router.get("/review/photos/{photo_id:uuid}/{variant}")
def photo_file(
    storage: StorageDep,
    session: SessionDep,
    user: EcologistPage,
    photo_id: uuid.UUID,
    variant: str,
) -> Response:
    """A photo of a record under review, for staff signed in with the page's cookie (the API's
    photo routes take a bearer token)."""
    kinds = {"small": PhotoVariant.small, "large": PhotoVariant.large, "full": PhotoVariant.full}
    found = photos_service.get_photo(session, photo_id)
    if variant not in kinds or found is None or not can_see(viewer(user), found[1]):
        raise NotFound("No such photo.", code="photo.not_found")
    photo, _ = found
    chosen = kinds[variant]
    content = photos_service.read_photo_file(storage, photo, chosen)
    return Response(
        content,
        media_type=photos_service.variant_media_type(photo, chosen),
        headers={
            "ETag": photos_service.variant_etag(photo, chosen),
            "Cache-Control": "private, max-age=3600",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get("/review/{observation_id:uuid}")
def observation_record(
    request: Request, session: SessionDep, user: EcologistPage, observation_id: uuid.UUID
) -> Response:
    observation = _load_observation(session, user, observation_id)
    return _observation_page(
        request, session, user, observation, read_filters(request.query_params)
    )


@router.post("/review/{observation_id:uuid}", dependencies=[CSRF])
def decide_observation(
    request: Request,
    session: SessionDep,
    user: EcologistPage,
    observation_id: uuid.UUID,
    decision: Annotated[str, Form(max_length=32)] = "",
    comment: Annotated[str, Form(max_length=MAX_NOTES * 2)] = "",
    back: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    observation = _load_observation(session, user, observation_id)
    filters = filters_from_back(back)
    review, form = _check_decision(decision, comment)
    if review is None:
        return _observation_page(
            request, session, user, observation, filters, form, status_code=422
        )
    service.review_observation(session, observation=observation, reviewer=user, review=review)
    next_id = _next_observation(session, request, observation, filters)
    query = filters.query(fait=review.decision.value)
    target = f"/review/{next_id}?{query}" if next_id else f"/review?{query}"
    return RedirectResponse(target, status_code=303)
