"""``/species``: the species reference for ecologists, searched as the API searches it
(accent-blind, ``app.species.service.list_species``), and marking a species sensitive or not
(``app.observations.sensitivity.correct_species``, as ``PATCH /species/{id}``: its audit and
the moving of its observations' public positions in the same unit of work)."""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from app.core.deps import SessionDep, SettingsDep
from app.core.errors import AppError
from app.observations.sensitivity import correct_species
from app.species import service
from app.species.models import Generalisation
from app.species.schemas import SpeciesUpdate
from app.species.taxref import SpeciesGroup
from app.web.auth import CSRF, EcologistPage
from app.web.templating import render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50

GROUP_LABELS = {
    SpeciesGroup.bird.value: "Oiseaux",
    SpeciesGroup.butterfly.value: "Papillons de jour",
    SpeciesGroup.moth.value: "Papillons de nuit",
    SpeciesGroup.insect.value: "Autres insectes",
    SpeciesGroup.amphibian.value: "Amphibiens",
    SpeciesGroup.reptile.value: "Reptiles",
    SpeciesGroup.mammal.value: "Mammifères",
    SpeciesGroup.plant.value: "Plantes",
    SpeciesGroup.fungus.value: "Champignons",
    SpeciesGroup.other.value: "Autres",
}
GENERALISATION_LABELS = {
    Generalisation.grid_1km.value: "maille de 1 km",
    Generalisation.grid_10km.value: "maille de 10 km",
    Generalisation.commune.value: "commune",
}


def french(code: str, fallback: str) -> str:
    """The catalogue's French text for an error code (``app.web.router.french_message``,
    imported when called: that module imports this one)."""
    from app.web.router import french_message

    return french_message(code, fallback)


def _back(q: str, group: str, cursor: str, **extra: str) -> str:
    params = {k: v for k, v in {"q": q, "group": group, "cursor": cursor, **extra}.items() if v}
    return "/species" + (f"?{urlencode(params)}" if params else "")


@router.get("/species")
def species_page(
    request: Request,
    user: EcologistPage,
    session: SessionDep,
    q: Annotated[str, Query(max_length=service.MAX_QUERY_LENGTH)] = "",
    group: str = "",
    cursor: str = "",
    changed: str = "",
) -> Response:
    chosen_group = group if group in GROUP_LABELS else ""
    error = None
    try:
        listing = service.list_species(
            session,
            q=q or None,
            group=chosen_group or None,
            limit=PAGE_SIZE,
            cursor=cursor or None,
        )
    except AppError as exc:  # a cursor from an old bookmark
        error = french(exc.code, "Cette page de la liste n'existe plus.")
        listing = service.list_species(
            session, q=q or None, group=chosen_group or None, limit=PAGE_SIZE
        )
        cursor = ""
    changed_species = None
    if changed:
        try:
            changed_species = service.get_species(session, uuid.UUID(changed))
        except (ValueError, AppError):
            changed_species = None
    next_url = (
        _back(q, chosen_group, listing.next_cursor) if listing.next_cursor is not None else None
    )
    return render(
        request,
        "species/list.html",
        {
            "q": q,
            "group": chosen_group,
            "cursor": cursor,
            "groups": GROUP_LABELS,
            "generalisations": GENERALISATION_LABELS,
            "items": listing.items,
            "next_url": next_url,
            "first_url": _back(q, chosen_group, "") if cursor else None,
            "back": _back(q, chosen_group, cursor),
            "changed": changed_species,
            "error": error,
        },
    )


@router.post("/species/{species_id}/sensitivity", dependencies=[CSRF])
def mark_sensitivity(
    species_id: uuid.UUID,
    user: EcologistPage,
    session: SessionDep,
    settings: SettingsDep,
    sensitive: Annotated[str, Form()] = "",
    generalisation: Annotated[str, Form()] = "",
    back: Annotated[str, Form(max_length=2000)] = "/species",
) -> Response:
    data: dict[str, object] = {"sensitive": sensitive == "true"}
    if generalisation in GENERALISATION_LABELS:
        data["generalisation"] = generalisation
    species = correct_species(
        session,
        settings,
        actor_id=user.id,
        species_id=species_id,
        data=SpeciesUpdate.model_validate(data),
    )
    target = back if back.startswith("/species") and not back.startswith("//") else "/species"
    separator = "&" if "?" in target else "?"
    return RedirectResponse(f"{target}{separator}changed={species.id}#resultats", status_code=303)
