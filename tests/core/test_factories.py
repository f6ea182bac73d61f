"""The factories make rows the API reads as its own: a factory that drifted from the models
(a column renamed, a constraint added) fails here, once, rather than in every test using it."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session

from app.accounts.models import User
from app.core.settings import Settings
from tests.factories import (
    auth_headers,
    create_baseline,
    create_class,
    create_observation,
    create_photo,
    create_pupil,
    create_review_decision,
    create_site,
    create_species,
    create_visit,
    create_zone,
)


def test_every_factory_makes_a_row_the_api_serves(
    client: TestClient,
    session: Session,
    settings: Settings,
    sentinel: User,
    ecologist: User,
    teacher: User,
) -> None:
    mine = auth_headers(sentinel, settings)
    species = create_species(session, scientific_name="Apus factorius")
    zone = create_zone(session, name="Terril d'usine")
    observation = create_observation(session, observer=sentinel, cd_nom=species.cd_nom)
    photo = create_photo(session, observation=observation)
    site = create_site(session, owner=sentinel)
    visit = create_visit(session, site=site, counts=[{"cd_nom": species.cd_nom, "occupied": 2}])
    decision = create_review_decision(session, target=observation, reviewer=ecologist)
    school_class = create_class(session, settings, teacher=teacher)
    pupil = create_pupil(session, school_class=school_class)
    baseline = create_baseline(session, cd_nom=species.cd_nom, zone=zone)

    seen = client.get(f"/observations/{observation.id}", headers=mine)
    assert seen.status_code == 200, seen.text
    assert seen.json()["status"] == decision.decision == "validated"
    assert [p["id"] for p in seen.json()["photos"]] == [str(photo.id)]
    assert client.get(f"/sites/{site.id}", headers=mine).json()["name"] == site.name
    counts = client.get(f"/visits/{visit.id}", headers=mine).json()["counts"]
    assert [(c["cd_nom"], c["occupied"]) for c in counts] == [(species.cd_nom, 2)]
    found = client.get("/species", params={"q": "factorius"}).json()["items"]
    assert [s["cd_nom"] for s in found] == [species.cd_nom]
    assert str(zone.id) in {z["id"] for z in client.get("/zones").json()["features"]}
    classes = client.get("/classes", headers=auth_headers(teacher, settings))
    assert [c["id"] for c in classes.json()["items"]] == [str(school_class.id)]
    assert pupil.class_id == school_class.id
    assert baseline.id is not None
