"""The CPIE's review workbench in a browser: the queue, a record with its photo, map and flags,
decisions from the keyboard, a bulk validation, the survey visits; and who may not come in."""

from __future__ import annotations

import html
import io
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from playwright.sync_api import Page, expect
from sqlalchemy import Engine
from sqlalchemy import delete as sa_delete
from sqlmodel import Session, col, select

from app.core.settings import Settings
from app.observations.models import Observation
from app.records.models import ReviewDecision
from app.surveys.models import Visit
from app.zones.models import Zone
from tests.browser import axe_violations, screenshots
from tests.conftest import wipe_committed_rows
from tests.factories import (
    auth_headers,
    create_observation,
    create_site,
    create_visit,
    create_zone,
)

ECOLOGIST = "eve.ecologue@cpie.example.org"


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (640, 480), (60, 130, 70)).save(out, format="JPEG")
    return out.getvalue()


def pending(committed: Engine, observer: Any, **fields: Any) -> Observation:
    with Session(committed) as session:
        observation = create_observation(session, observer=observer, **fields)
        session.commit()
        session.refresh(observation)
        session.expunge(observation)
        return observation


def api_observation(page: Page, headers: dict[str, str], observation_id: Any) -> dict[str, Any]:
    answer = page.request.get(f"/api/v1/observations/{observation_id}", headers=headers)
    assert answer.ok, answer.text()
    result: dict[str, Any] = answer.json()
    return result


@pytest.fixture
def terril(committed: Engine) -> Iterator[uuid.UUID]:
    """A committed zone: zones are reference data, which the wipe after a test keeps, so this
    one is removed here (its observations are wiped first, by the autouse fixture's order)."""
    with Session(committed) as session:
        zone_id = create_zone(session, name="Terrils jumeaux", half=0.004).id
        session.commit()
    yield zone_id
    wipe_committed_rows(committed)
    with committed.begin() as conn:
        conn.execute(sa_delete(Zone).where(col(Zone.id) == zone_id))


def test_an_ecologist_validates_an_observation_with_the_keyboard(
    page: Page,
    account: Callable[..., Any],
    sign_in: Callable[..., None],
    committed: Engine,
    settings: Settings,
    terril: uuid.UUID,
) -> None:
    ecologist = account("ecologist", ECOLOGIST, "Ève (CPIE)")
    lucie = account("sentinel", "lucie@example.org", "Lucie M.")
    first = pending(
        committed,
        lucie,
        zone_id=terril,
        observed_at="2026-02-03T10:15:00+01:00",
        accuracy_m=40.0,
        count=3,
        notes="Trois hirondelles sur le fil, en février !",
        flags=["out_of_season"],
    )
    second = pending(committed, lucie, observed_at="2026-04-12T09:00:00+02:00")
    with Session(committed) as session:
        create_observation(session, observer=lucie, status="validated")
        session.commit()
    # The observer's photo, uploaded through the API as the phone does.
    upload = page.request.post(
        f"/api/v1/observations/{first.id}/photos",
        headers=auth_headers(lucie, settings),
        multipart={"file": {"name": "hirondelles.jpg", "mimeType": "image/jpeg", "buffer": jpeg()}},
    )
    assert upload.status == 201, upload.text()

    sign_in(page, ECOLOGIST)
    expect(page).to_have_url(re.compile(r"/review$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Observations à valider")
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("Hirondelle rustique")
    expect(rows.first).to_contain_text("3 février 2026")
    expect(rows.first).to_contain_text("Hors saison")
    expect(rows.first).to_contain_text("Terrils jumeaux")
    expect(page.locator(".shortcuts")).to_contain_text("J ligne suivante")
    assert axe_violations(page) == []
    screenshots(page, "review-queue")

    page.keyboard.press("j")
    expect(page.locator("a.record-link").first).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/review/{first.id}"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Hirondelle rustique")
    photo = page.get_by_role("img", name=re.compile("Photo 1 de l'observation"))
    expect(photo).to_be_visible()
    assert photo.evaluate("img => img.complete && img.naturalWidth") == 640
    expect(page.locator(".flags")).to_contain_text("Hors saison")
    expect(page.locator(".flags")).to_contain_text("pas observée ce mois-ci")
    expect(page.locator(".facts")).to_contain_text("Lucie M.")
    expect(page.locator(".tally")).to_have_text("1 observation validée sur 3")
    expect(page.locator(".facts")).to_contain_text("3 février 2026 à 10:15")
    expect(page.locator("#map-title + .record-map + p")).to_contain_text("zone : Terrils jumeaux")
    expect(page.locator(".record-map")).to_have_attribute("data-ready", "true")
    # The accuracy circle and the point are drawn over the commune's outline.
    expect(page.locator(".record-map path.leaflet-interactive")).to_have_count(2)
    expect(page.locator(".shortcuts")).to_contain_text("V valider")
    assert axe_violations(page) == []
    screenshots(page, "review-record")

    page.keyboard.press("v")
    # The next record of the queue comes up, with word of the decision.
    expect(page).to_have_url(re.compile(rf"/review/{second.id}"))
    expect(page.get_by_role("status").first).to_have_text("Observation validée. Voici la suivante.")
    page.keyboard.press("q")
    expect(page).to_have_url(re.compile(r"/review\?|/review$"))
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator(f'input[value="{first.id}"]')).to_have_count(0)

    answer = api_observation(page, auth_headers(ecologist, settings), first.id)
    assert answer["status"] == "validated"
    assert [r["decision"] for r in answer["reviews"]] == ["validated"]


def test_rejecting_needs_a_comment_which_the_observer_then_reads(
    page: Page,
    account: Callable[..., Any],
    sign_in: Callable[..., None],
    committed: Engine,
    settings: Settings,
) -> None:
    account("ecologist", ECOLOGIST)
    paul = account("sentinel", "paul@example.org", "Paul B.")
    observation = pending(committed, paul, count=400, flags=["high_count"])
    sign_in(page, ECOLOGIST)
    page.goto(f"/review/{observation.id}")

    # Without a comment (the button, as without JavaScript): refused at the field, nothing done.
    page.get_by_role("button", name="Refuser").click()
    expect(page.locator("#e-comment")).to_have_text(
        "Expliquez à l'observateur pourquoi l'observation est refusée."
    )
    expect(page.get_by_label("Commentaire pour l'observateur")).to_have_attribute(
        "aria-invalid", "true"
    )
    assert axe_violations(page) == []
    with Session(committed) as session:
        stored = session.get(Observation, observation.id)
        assert stored is not None and stored.status == "pending"

    # From the keyboard: R asks for the comment, Ctrl+Enter sends the refusal.
    page.locator("h1").click()
    page.keyboard.press("r")
    comment = page.get_by_label("Commentaire pour l'observateur")
    expect(comment).to_be_focused()
    expect(page.locator("#shortcut-status")).to_contain_text("Ctrl + Entrée pour refuser")
    comment.fill("400 hirondelles au même endroit : sans doute des martinets.")
    page.keyboard.press("Control+Enter")
    expect(page).to_have_url(re.compile(r"/review\?fait=rejected"))
    expect(page.get_by_role("status").first).to_have_text("Observation refusée.")
    expect(page.get_by_text("Aucune observation n'attend de décision.")).to_be_visible()

    mine = page.request.get(
        f"/api/v1/observations/{observation.id}", headers=auth_headers(paul, settings)
    )
    assert mine.json()["status"] == "rejected"
    assert mine.json()["reviews"][0]["comment"] == (
        "400 hirondelles au même endroit : sans doute des martinets."
    )


def test_two_observations_validated_at_once_the_third_left(
    page: Page,
    account: Callable[..., Any],
    sign_in: Callable[..., None],
    committed: Engine,
) -> None:
    ecologist = account("ecologist", ECOLOGIST)
    zoe = account("sentinel", "zoe@example.org", "Zoé")
    made = [
        pending(committed, zoe, observed_at=f"2026-05-0{day}T08:00:00+02:00") for day in (1, 2, 3)
    ]
    made.append(pending(committed, zoe, flags=["poor_location"], accuracy_m=2500.0))
    sign_in(page, ECOLOGIST)
    # The flag filter keeps the one flagged.
    page.get_by_label("Signalement").select_option(label="Localisation imprécise")
    page.get_by_role("button", name="Filtrer").click()
    expect(page.locator("tbody tr")).to_have_count(1)
    page.get_by_role("link", name="Tout afficher").click()
    expect(page.locator("tbody tr")).to_have_count(4)

    page.get_by_role("checkbox", name=re.compile("1 mai 2026")).check()
    page.keyboard.press("j")  # from the ticked box to the second row
    page.keyboard.press("x")
    expect(page.locator("#selection-count")).to_have_text("2 sélectionnées")
    page.get_by_role("button", name="Valider la sélection").click()
    expect(page.get_by_role("status").first).to_have_text("2 observations validées.")
    expect(page.locator("tbody tr")).to_have_count(2)

    with Session(committed) as session:
        statuses = dict(
            session.exec(
                select(Observation.id, Observation.status).where(
                    col(Observation.id).in_([o.id for o in made])
                )
            ).all()
        )
        decisions = session.exec(
            select(ReviewDecision).where(col(ReviewDecision.reviewer_id) == ecologist.id)
        ).all()
    assert [statuses[o.id] for o in made] == ["validated", "validated", "pending", "pending"]
    assert sorted(d.target_id for d in decisions) == sorted([made[0].id, made[1].id])

    # Nothing ticked: said in French, nothing done.
    page.get_by_role("button", name="Valider la sélection").click()
    expect(page.locator("#bulk-error")).to_have_text("Cochez au moins une observation à valider.")


def test_a_survey_visit_is_reviewed_the_same_way(
    page: Page,
    account: Callable[..., Any],
    sign_in: Callable[..., None],
    committed: Engine,
    settings: Settings,
) -> None:
    ecologist = account("ecologist", ECOLOGIST)
    owner = account("sentinel", "marc@example.org", "Marc D.")
    with Session(committed) as session:
        site = create_site(session, owner=owner.id, name="Rue Jean-Jaurès, n° 12")
        visit = create_visit(
            session,
            site=site,
            counts=[{"cd_nom": 3696, "occupied": 4, "unoccupied": 1, "destroyed": 0}],
            flags=["out_of_season"],
        )
        session.commit()
        visit_id = visit.id
    sign_in(page, ECOLOGIST)
    page.get_by_role("link", name="Visites de protocole").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Visites de protocole à valider")
    expect(page.locator("tbody tr")).to_have_count(1)
    assert axe_violations(page) == []
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Visite de Rue Jean-Jaurès, n° 12")
    expect(page.get_by_role("table")).to_contain_text("Hirondelle rustique")
    expect(page.locator(".flags")).to_contain_text("Hors saison")
    expect(page.locator(".tally")).to_have_text("0 visite validée sur 1")
    expect(page.locator(".record-map")).to_have_attribute("data-ready", "true")
    assert axe_violations(page) == []
    screenshots(page, "review-visit")
    page.keyboard.press("v")
    expect(page.get_by_role("status").first).to_have_text("Visite validée.")
    expect(page.get_by_text("Aucune visite n'attend de décision.")).to_be_visible()
    answer = page.request.get(
        f"/api/v1/visits/{visit_id}", headers=auth_headers(ecologist, settings)
    )
    assert answer.json()["status"] == "validated"
    with Session(committed) as session:
        stored = session.get(Visit, visit_id)
        assert stored is not None and stored.status == "validated"


def test_a_resident_is_refused_and_a_visitor_sent_to_sign_in(
    page: Page, account: Callable[..., Any], sign_in: Callable[..., None]
) -> None:
    answer = page.goto("/review")
    assert answer is not None
    expect(page).to_have_url(re.compile(r"/login\?next=/review$"))
    account("sentinel", "martine@example.org", "Martine")
    sign_in(page, "martine@example.org")
    answer = page.goto("/review")
    assert answer is not None and answer.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Accès refusé")
    expect(page.locator("main")).to_contain_text("réservée aux")
    expect(page.get_by_role("link", name="À valider")).to_have_count(0)
    assert axe_violations(page) == []


# --- the forms over plain HTTP (no JavaScript), in the test's transaction ---------------------


def signed_in_client(app: Any, session: Session, settings: Settings) -> TestClient:
    from tests.factories import DEFAULT_PASSWORD, create_user

    create_user(session, settings, role="ecologist", email="http@cpie.example.org")
    session.commit()
    client = TestClient(app, headers={"accept": "text/html"})
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    answer = client.post(
        "/login",
        data={
            "csrf_token": token.group(1),
            "email": "http@cpie.example.org",
            "password": DEFAULT_PASSWORD,
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303
    return client


def csrf(client: TestClient) -> str:
    return str(client.cookies.get("sentinelles_csrf"))


def test_a_wrong_filter_is_said_at_its_field_and_the_others_kept(
    app: Any, session: Session, settings: Settings
) -> None:
    client = signed_in_client(app, session, settings)
    observer = create_user_in(session, settings)
    create_observation(session, observer=observer, flags=["high_count"])
    create_observation(session, observer=observer)
    session.commit()
    answer = client.get("/review", params={"du": "2026-13-45", "signalement": "high_count"})
    assert answer.status_code == 200
    assert "Indiquez une date au format jj/mm/aaaa." in answer.text
    assert 'id="f-du" name="du" type="date" value=""' in answer.text
    assert '<option value="high_count" selected>' in answer.text
    assert answer.text.count('name="ids"') == 1


def test_a_decision_without_its_comment_changes_nothing(
    app: Any, session: Session, settings: Settings
) -> None:
    client = signed_in_client(app, session, settings)
    observation = create_observation(session, observer=create_user_in(session, settings))
    session.commit()
    answer = client.post(
        f"/review/{observation.id}",
        data={"csrf_token": csrf(client), "decision": "needs_info", "comment": "   "},
    )
    assert answer.status_code == 422
    assert "Dites à l'observateur quelle information il manque." in html.unescape(answer.text)
    # Without the CSRF token: refused, whatever the decision.
    refused = client.post(f"/review/{observation.id}", data={"decision": "validated"})
    assert refused.status_code == 403
    assert "Ce formulaire a expiré" in refused.text
    session.refresh(observation)
    assert observation.status == "pending"
    history = session.exec(
        select(ReviewDecision).where(col(ReviewDecision.target_id) == observation.id)
    ).all()
    assert history == []


def test_a_bulk_validation_with_a_vanished_record_validates_none(
    app: Any, session: Session, settings: Settings
) -> None:
    client = signed_in_client(app, session, settings)
    observer = create_user_in(session, settings)
    kept = create_observation(session, observer=observer)
    gone = create_observation(session, observer=observer, deleted=True)
    session.commit()
    answer = client.post(
        "/review/bulk",
        data={"csrf_token": csrf(client), "ids": [str(kept.id), str(gone.id)]},
    )
    assert answer.status_code == 422
    assert "Certains éléments choisis n'existent plus : rien n'a été modifié." in html.unescape(
        answer.text
    )
    # The ticked box stays ticked.
    assert re.search(rf'value="{kept.id}" id="sel-{kept.id}" checked', answer.text)
    session.refresh(kept)
    assert kept.status == "pending"


def create_user_in(session: Session, settings: Settings) -> Any:
    from tests.factories import create_user

    return create_user(session, settings, role="sentinel", display_name="Nadia")
