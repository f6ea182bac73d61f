"""A resident's pages: their sightings with the CPIE's decision and comment and their photos,
page after page; downloading their data; deleting their account, signed out after it."""

from __future__ import annotations

import io
import json
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image
from playwright.sync_api import Page, expect
from sqlmodel import Session

from app.accounts.models import User
from tests.browser import axe_violations, screenshots
from tests.factories import (
    DEFAULT_PASSWORD,
    LOOS_AT,
    SWALLOW,
    auth_headers,
    create_observation,
    create_user,
)

HTML = {"accept": "text/html"}
PEACOCK = 608364  # a second shipped species (Paon-du-jour): not sensitive


def _sighting(cd_nom: int, when: str, notes: str | None = None) -> dict[str, Any]:
    return {
        "client_id": str(uuid.uuid4()),
        "cd_nom": cd_nom,
        "observed_at": when,
        "latitude": LOOS_AT[0],
        "longitude": LOOS_AT[1],
        "count": 2,
        **({"notes": notes} if notes else {}),
    }


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (70, 130, 60)).save(buffer, "JPEG")
    return buffer.getvalue()


def test_a_resident_reads_the_cpie_answer_downloads_their_data_and_leaves(
    page: Page,
    account: Callable[..., Any],
    sign_in: Callable[..., None],
    settings: Any,
    committed: Any,
) -> None:
    resident = account("sentinel", "martine@example.org", "Martine L.")
    ecologist = account("ecologist", "eve@cpie.example.org", "Ève")
    mine, staff = auth_headers(resident, settings), auth_headers(ecologist, settings)

    # Two sightings sent from the phone, one with a photo; the CPIE reviews both.
    swallow = page.request.post(
        "/api/v1/observations",
        data=_sighting(SWALLOW, "2026-04-12T09:00:00+02:00", "sur le fil, devant l'église"),
        headers=mine,
    ).json()
    peacock = page.request.post(
        "/api/v1/observations", data=_sighting(PEACOCK, "2026-04-20T18:30:00+02:00"), headers=mine
    ).json()
    uploaded = page.request.post(
        f"/api/v1/observations/{swallow['id']}/photos",
        multipart={"file": {"name": "nid.jpg", "mimeType": "image/jpeg", "buffer": _jpeg()}},
        headers=mine,
    )
    assert uploaded.status == 201, uploaded.text()
    for observation, decision in (
        (swallow, {"decision": "needs_info", "comment": "Une photo du dessous des ailes ?"}),
        (peacock, {"decision": "validated"}),
    ):
        answer = page.request.post(
            f"/api/v1/observations/{observation['id']}/review", data=decision, headers=staff
        )
        assert answer.status == 200, answer.text()

    sign_in(page, "martine@example.org")
    assert page.url.endswith("/me/observations")
    expect(page).to_have_title("Mes observations · Sentinelles Loos-en-Gohelle")
    cards = page.locator(".sighting")
    expect(cards).to_have_count(2)
    newest, older = cards.nth(0), cards.nth(1)
    expect(newest.get_by_role("heading", level=2)).to_contain_text("Paon-du-jour")
    expect(newest.locator(".badge")).to_have_text("validée")
    expect(older.get_by_role("heading", level=2)).to_contain_text("Hirondelle rustique")
    expect(older.locator(".badge")).to_have_text("précision demandée")
    expect(older.locator(".reviews li")).to_have_text(
        re.compile(r"^Précision demandée le \d+ \S+ \d{4} : « Une photo du dessous des ailes \? »$")
    )
    expect(older).to_contain_text("12 avril 2026 à 09:00")
    expect(older).to_contain_text("« sur le fil, devant l'église »")
    thumbnail = older.get_by_role("img", name="Photo 1 de l'observation")
    expect(thumbnail).to_be_visible()
    assert thumbnail.evaluate("img => img.complete && img.naturalWidth") == 400
    assert axe_violations(page) == []
    screenshots(page, "me-observations")

    # The GDPR export, with the cookie: the same document as GET /api/v1/me/export.
    page.get_by_role("link", name="Mon compte et mes données").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Mon compte")
    assert axe_violations(page) == []
    screenshots(page, "me-account")
    # Credited by name in the open data: off until she ticks it, and the API agrees.
    credit = page.get_by_label(
        "Me citer par mon nom dans les données ouvertes publiées (sinon un pseudonyme anonyme)"
    )
    expect(credit).not_to_be_checked()
    credit.check()
    page.get_by_role("button", name="Enregistrer ce choix").click()
    expect(page.get_by_role("status")).to_contain_text("vous citeront par votre nom")
    expect(credit).to_be_checked()
    assert page.request.get("/api/v1/me", headers=mine).json()["credit_by_name"] is True
    assert axe_violations(page) == []
    with page.expect_download() as info:
        page.get_by_role("link", name="Télécharger mes données").click()
    download = info.value
    assert download.suggested_filename.startswith("sentinelles-export-")
    document = json.loads(Path(download.path()).read_text(encoding="utf-8"))
    assert document["account"]["email"] == "martine@example.org"
    assert {o["id"] for o in document["observations"]} == {swallow["id"], peacock["id"]}

    # Leaving: the password again, the browser's confirmation, then signed out.
    page.get_by_label("Mot de passe, pour confirmer").fill("pas le bon")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Supprimer mon compte").click()
    expect(page.locator("#password-error")).to_have_text(
        "Mot de passe incorrect : votre compte n'a pas été supprimé."
    )
    assert axe_violations(page) == []
    page.get_by_label("Mot de passe, pour confirmer").fill(DEFAULT_PASSWORD)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Supprimer mon compte").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Votre compte est supprimé")
    expect(page.locator(".account").get_by_role("link", name="Se connecter")).to_be_visible()
    assert "sentinelles_session" not in {c["name"] for c in page.context.cookies()}
    assert axe_violations(page) == []
    screenshots(page, "me-deleted")
    with Session(committed) as session:
        gone = session.get(User, resident.id)
        assert gone is not None and gone.anonymised_at is not None
        assert gone.email != "martine@example.org"
    assert page.goto("/me/observations") is not None
    assert "/login" in page.url


# --- plain HTTP ------------------------------------------------------------------------------


def _signed_in(app: FastAPI, email: str) -> tuple[TestClient, str]:
    client = TestClient(app)
    client.get("/login", headers=HTML)
    answer = client.post(
        "/login",
        data={
            "email": email,
            "password": DEFAULT_PASSWORD,
            "csrf_token": client.cookies["sentinelles_csrf"],
        },
        headers=HTML,
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return client, client.cookies["sentinelles_csrf"]


def test_a_wrong_or_missing_password_deletes_nothing_and_says_so_at_the_field(
    app: FastAPI, session: Session, settings: Any
) -> None:
    user = create_user(session, settings, email="paul@example.org", display_name="Paul")
    client, token = _signed_in(app, "paul@example.org")

    answer = client.post(
        "/me/delete", data={"csrf_token": token, "password": "pas le bon"}, headers=HTML
    )
    assert answer.status_code == 401
    assert 'id="password-error" role="alert">Mot de passe incorrect' in answer.text
    assert 'aria-invalid="true"' in answer.text
    empty = client.post("/me/delete", data={"csrf_token": token, "password": ""}, headers=HTML)
    assert empty.status_code == 422
    assert "Indiquez votre mot de passe pour confirmer." in empty.text
    forged = client.post("/me/delete", data={"password": DEFAULT_PASSWORD}, headers=HTML)
    assert forged.status_code == 403

    session.expire_all()
    kept = session.get(User, user.id)
    assert kept is not None and kept.email == "paul@example.org" and kept.anonymised_at is None
    assert client.get("/me", headers=HTML).status_code == 200  # still signed in


def test_the_account_page_shows_and_changes_the_credit_by_name(
    app: FastAPI, session: Session, settings: Any
) -> None:
    user = create_user(session, settings, email="lea@example.org", display_name="Léa M.")
    client, token = _signed_in(app, "lea@example.org")
    page = client.get("/me", headers=HTML)
    assert "cité·e par un pseudonyme anonyme" in page.text
    assert 'name="credit_by_name" value="oui"' in page.text
    assert 'value="oui" aria-describedby="credit-by-name-hint"\n        >' in page.text  # unticked

    forged = client.post("/me/citation", data={"credit_by_name": "oui"}, headers=HTML)
    assert forged.status_code == 403
    on = client.post(
        "/me/citation", data={"csrf_token": token, "credit_by_name": "oui"}, headers=HTML
    )
    assert on.status_code == 200 and on.url.path == "/me"
    assert "noté : les prochaines données ouvertes publiées vous citeront par votre nom." in on.text
    assert "Vous y êtes cité·e par votre nom affiché, « Léa M. »." in on.text
    me = TestClient(app).get("/api/v1/me", headers=auth_headers(user, settings))
    assert me.json()["credit_by_name"] is True
    # An unticked box sends nothing: that is the choice of a pseudonym.
    off = client.post("/me/citation", data={"csrf_token": token}, headers=HTML)
    assert off.status_code == 200
    assert "vous citeront par un pseudonyme anonyme" in off.text
    session.expire_all()
    kept = session.get(User, user.id)
    assert kept is not None and kept.credit_by_name is False


def test_the_sightings_come_twenty_a_page_newest_first_and_only_ones_own(
    app: FastAPI, session: Session, settings: Any
) -> None:
    user = create_user(session, settings, email="lea@example.org")
    other = create_user(session, settings, email="other@example.org")
    for day in range(1, 24):
        create_observation(session, observer=user, observed_at=f"2026-03-{day:02d}T10:00:00+01:00")
    create_observation(session, observer=other, status="validated", notes="pas la sienne")
    client, _ = _signed_in(app, "lea@example.org")

    first = client.get("/me/observations", headers=HTML)
    assert first.status_code == 200
    assert first.text.count('class="card sighting"') == 20
    assert ">23 mars 2026 à" in first.text and ">3 mars 2026 à" not in first.text
    assert "pas la sienne" not in first.text
    assert "en attente de validation" in first.text
    start = first.text.index('href="/me/observations?cursor=')
    link = first.text[start + 6 : first.text.index('"', start + 6)].replace("&amp;", "&")
    second = client.get(link, headers=HTML)
    assert second.text.count('class="card sighting"') == 3
    assert ">1 mars 2026 à" in second.text
    assert "Les plus récentes" in second.text and "?cursor=" not in second.text

    # Someone else's photo is not served with the cookie either.
    assert client.get(f"/me/photos/{uuid.uuid4()}/small", headers=HTML).status_code == 404
