"""The ecologists' reference and output pages over plain HTTP: the species list's search and
pages, the sensitivity form's audit, the comparison's filters, and the export filters' French
errors and counts."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from app.audit.models import AuditEvent
from app.core.settings import Settings
from app.core.vocabulary import Role
from app.web import species as species_pages
from tests.factories import create_baseline, create_observation, create_user, species_by_cd_nom
from tests.web.test_baselines_form import signed_in

HOUSE_MARTIN, SWALLOW, TOAD = 459478, 3696, 259


@pytest.fixture
def client(app: FastAPI, session: Session, settings: Settings) -> Iterator[TestClient]:
    create_user(session, settings, role=Role.ecologist, email="eve@example.org")
    with signed_in(app, "eve@example.org") as client:
        yield client


def page(client: TestClient, path: str, status: int = 200) -> str:
    answer = client.get(path, headers={"accept": "text/html"})
    assert answer.status_code == status, answer.text[:300]
    return re.sub(r"\s+", " ", html.unescape(answer.text))


def names(text: str) -> list[str]:
    return re.findall(r'<span class="species-name">([^<]+)</span>', text)


def test_the_species_search_ignores_accents_and_the_list_pages_on(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(species_pages, "PAGE_SIZE", 10)
    assert names(page(client, "/species?q=PIERIDE")) == [
        "Piéride de la Rave",
        "Piéride du Chou",
        "Piéride du Navet",
    ]
    first = page(client, "/species")
    assert len(names(first)) == 10
    link = re.search(r'href="(/species\?cursor=[^"#]+)#resultats"', first)
    assert link is not None, "no link to the next species"
    second = page(client, link.group(1).replace("&amp;", "&"))
    assert names(second) and not set(names(second)) & set(names(first))
    assert "Revenir au début" in second
    # A damaged bookmark: the first page again, with the catalogue's French message.
    damaged = page(client, "/species?cursor=abc")
    assert names(damaged) == names(first)
    assert 'class="error-summary"' in damaged


def test_marking_a_species_sensitive_is_audited_and_keeps_the_search(
    client: TestClient, session: Session
) -> None:
    toad = species_by_cd_nom(session, TOAD)
    answer = client.post(
        f"/species/{toad.id}/sensitivity",
        data={
            "csrf_token": client.cookies["sentinelles_csrf"],
            "sensitive": "true",
            "generalisation": "grid_1km",
            "back": "/species?q=crapaud",
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/species?q=crapaud&changed={toad.id}#resultats"
    session.refresh(toad)
    assert (toad.sensitive, toad.generalisation) == (True, "grid_1km")
    events = session.exec(select(AuditEvent).where(col(AuditEvent.entity_id) == toad.id)).all()
    assert [e.changes["sensitive"] for e in events] == [[False, True]]
    shown = page(client, answer.headers["location"].split("#")[0])
    assert "Crapaud commun : espèce marquée sensible" in shown
    assert "floutée à la maille de 1 km" in shown


def test_a_sensitivity_form_pointing_elsewhere_comes_back_to_the_species(
    client: TestClient, session: Session
) -> None:
    toad = species_by_cd_nom(session, TOAD)
    answer = client.post(
        f"/species/{toad.id}/sensitivity",
        data={
            "csrf_token": client.cookies["sentinelles_csrf"],
            "sensitive": "false",
            "back": "//evil.example/species",
        },
        follow_redirects=False,
    )
    assert answer.headers["location"].startswith("/species?changed=")


def test_the_comparison_filters_by_group(client: TestClient, session: Session) -> None:
    create_baseline(session, year=2010, cd_nom=HOUSE_MARTIN, count=40, unit="nests")
    create_baseline(session, year=2010, cd_nom=TOAD, count=1, unit="presence")
    every = page(client, "/stats?year=2025")
    assert "Hirondelle de fenêtre" in every and "Crapaud commun" in every
    birds = page(client, "/stats?year=2025&group=bird")
    table = birds.split('id="comparison-table"')[1].split("</table>")[0]
    assert "Hirondelle de fenêtre" in table and "Crapaud commun" not in table
    # Nonsense in the selectors is the default view, not an error.
    assert "Hirondelle de fenêtre" in page(client, "/stats?year=abc&zone_id=x&species_id=y")


def test_the_comparison_says_which_figure_and_unit(
    client: TestClient, session: Session, settings: Settings
) -> None:
    """Nests against nests, in words; a species seen only as individuals against a nests
    baseline, and one not reported at all, get words, not a −100 %."""
    observer = create_user(session, settings)
    create_baseline(session, year=2010, cd_nom=HOUSE_MARTIN, count=40, unit="nests")
    create_baseline(session, year=2010, cd_nom=SWALLOW, count=20, unit="nests")
    create_baseline(session, year=2010, cd_nom=TOAD, count=1, unit="presence")
    for cd_nom, count, unit in ((HOUSE_MARTIN, 30, "nests"), (SWALLOW, 55, "individuals")):
        create_observation(
            session,
            observer=observer,
            cd_nom=cd_nom,
            observed_at="2025-06-01T10:00:00+02:00",
            count=count,
            count_unit=unit,
            status="validated",
        )
    table = page(client, "/stats?year=2025").split('id="comparison-table"')[1]
    table = html.unescape(table.split("</table>")[0])
    rows = {
        name: re.sub(r"<[^>]+>", " ", row)
        for row in table.split("<tr>")[2:]
        for name in ("Hirondelle de fenêtre", "Hirondelle rustique", "Crapaud commun")
        if name in row
    }
    martin = " ".join(rows["Hirondelle de fenêtre"].split())
    assert "40 nids 30 nids nids signalés (observations validées) −25,0 %" in martin
    swallow = " ".join(rows["Hirondelle rustique"].split())
    assert "vue, mais pas de comptage en nids" in swallow and "%" not in swallow
    assert "non revue cette année" in rows["Crapaud commun"]


def test_the_export_count_follows_the_filters(
    client: TestClient, session: Session, settings: Settings
) -> None:
    observer = create_user(session, settings, display_name="Léo")
    for when, cd_nom, status in (
        ("2026-04-03T09:00:00+02:00", SWALLOW, "validated"),
        ("2026-04-20T09:00:00+02:00", TOAD, "validated"),
        ("2025-04-20T09:00:00+02:00", SWALLOW, "validated"),
        ("2026-05-01T09:00:00+02:00", SWALLOW, "pending"),
    ):
        create_observation(
            session, observer=observer, cd_nom=cd_nom, observed_at=when, status=status
        )
    create_observation(session, observer=observer, status="validated", deleted=True)

    def count(query: str) -> str:
        text = page(client, f"/exports?{query}")
        found = re.search(r'<span class="count-figure">([^<]+)</span>', text)
        assert found is not None
        return found.group(1)

    swallow = species_by_cd_nom(session, SWALLOW)
    assert count("") == "3"  # validated by default, as the API's exports; never the deleted
    assert count("year=2026") == "2"
    assert count(f"year=2026&species_id={swallow.id}") == "1"
    assert count("status=pending") == "1"
    assert count("year=2024") == "0"
    csv_link = (
        f"/exports/observations.csv?year=2026&amp;status=validated&amp;species_id={swallow.id}"
    )
    assert (
        csv_link
        in client.get(
            f"/exports?year=2026&species_id={swallow.id}", headers={"accept": "text/html"}
        ).text
    )
    rows = client.get(csv_link.replace("&amp;", "&")).text.strip().splitlines()
    assert len(rows) == 2  # the header and the one swallow of 2026


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("year=1800", "year", "Indiquez une année entre 1900 et 2100"),
        ("zone_id=nulle-part", "zone", "Choisissez une zone de la liste."),
        ("species_id=42", "species", "Choisissez une espèce de la liste."),
        ("status=perdu", "status", "Choisissez un statut de la liste."),
    ],
)
def test_a_bad_export_filter_is_named_in_french_and_its_value_kept(
    client: TestClient, query: str, field: str, message: str
) -> None:
    text = page(client, f"/exports?{query}", status=422)
    assert f'id="{field}-error">{message}' in text
    assert "Corrigez les filtres en erreur" in text
    if field == "year":
        assert 'value="1800"' in text
    download = client.get(f"/exports/observations.csv?{query}", headers={"accept": "text/html"})
    assert download.status_code == 422
    assert message in html.unescape(download.text)


def test_the_publish_button_refuses_in_french_then_publishes_for_everyone(
    client: TestClient, session: Session, settings: Settings, app: FastAPI
) -> None:
    observer = create_user(session, settings, display_name="Léo")
    create_observation(session, observer=observer, cd_nom=SWALLOW, status="validated")
    token = {"csrf_token": client.cookies["sentinelles_csrf"]}
    text = page(client, "/exports")
    assert "Rien n'est encore publié." in text
    assert "SENTINELLES_DATASET_CONTACT_EMAIL" in text  # why the button will refuse
    # No token, no publishing.
    assert client.post("/exports/publish", data={}).status_code == 403
    refused = client.post("/exports/publish", data=token)
    assert refused.status_code == 409
    said = re.sub(r"\s+", " ", html.unescape(refused.text))
    assert 'role="alert" id="publish-error">' in said and "contact" in said
    assert not (settings.open_data_dir / "current.json").exists()

    settings.dataset_contact_email = "donnees@cpie-terrils.fr"
    done = client.post("/exports/publish", data=token, follow_redirects=False)
    assert done.status_code == 303
    assert done.headers["location"] == "/exports?publiee=1#donnees-ouvertes"
    text = page(client, "/exports?publiee=1")
    assert "Les données ouvertes ont été publiées." in text
    assert "Publiées le" in text and "Rien n'est encore publié." not in text
    links = re.findall(r'href="(/api/v1/open-data/[a-z.]+)"', text)
    assert sorted(links) == [
        "/api/v1/open-data/dwca.zip",
        "/api/v1/open-data/observations.csv",
        "/api/v1/open-data/observations.geojson",
    ]
    assert "1 enregistrement," in text  # the one validated swallow, in the CSV
    with TestClient(app) as anyone:  # no cookie: open data is for everyone
        csv_file = anyone.get("/api/v1/open-data/observations.csv")
        assert csv_file.status_code == 200
        assert len(csv_file.text.strip().splitlines()) == 2


def test_the_scheduled_rebuild_publishes_once_the_snapshot_is_old(
    session: Session, settings: Settings, db: object
) -> None:
    from datetime import timedelta

    from app.core.db import utcnow
    from app.exports import publish

    observer = create_user(session, settings, display_name="Léo")
    create_observation(session, observer=observer, cd_nom=SWALLOW, status="validated")
    settings.dataset_contact_email = "donnees@cpie-terrils.fr"
    assert publish.rebuild_if_due(db, settings) is None  # the setting is off by default
    settings.open_data_rebuild_hours = 24
    first = publish.rebuild_if_due(db, settings)
    assert first is not None and publish.current(settings) is not None  # none yet: built
    assert publish.rebuild_if_due(db, settings) is None  # fresh: left as it is
    later = utcnow() + timedelta(hours=25)
    second = publish.rebuild_if_due(db, settings, now=later)
    assert second is not None and second.generated_at != first.generated_at
    current = publish.current(settings)
    assert current is not None and current.generated_at == second.generated_at


def test_the_app_rebuilds_on_its_schedule(settings: Settings, db: object, session: Session) -> None:
    import time

    from app.main import create_app

    settings.dataset_contact_email = "donnees@cpie-terrils.fr"
    settings.open_data_rebuild_hours = 24
    with TestClient(create_app(settings, database=db)) as anyone:  # type: ignore[arg-type]
        deadline = time.monotonic() + 30
        listing = anyone.get("/api/v1/open-data").json()
        while not listing["files"] and time.monotonic() < deadline:
            time.sleep(0.2)
            listing = anyone.get("/api/v1/open-data").json()
        assert {f["name"] for f in listing["files"]} == {
            "dwca.zip",
            "observations.csv",
            "observations.geojson",
        }
