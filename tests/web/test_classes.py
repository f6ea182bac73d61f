"""The teachers' pages: a class opened in the browser, its code and QR code for the board, pupils
joining through the API as the tablets do, the projector summary with the session cookie, and
closing the class; the form's French errors; a sentinel kept out."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Callable
from typing import Any

import segno
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Page, expect
from sqlmodel import Session, col, select

from app.classes.models import Pupil, SchoolClass
from tests.browser import ARTIFACTS, axe_violations, screenshots
from tests.factories import DEFAULT_PASSWORD, LOOS_AT, SWALLOW, create_user

HTML = {"accept": "text/html"}

# The table cells' texts that the browser broke over more than one line.
WRAPPED_TEXT = """() => [...document.querySelectorAll('td, th')].flatMap(cell => {
  const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
  const broken = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!node.textContent.trim()) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    const tops = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
    if (tops.size > 1) broken.push(node.textContent);
  }
  return broken;
})"""


def _sighting(when: str = "2026-04-14T10:00:00+02:00") -> dict[str, Any]:
    return {
        "client_id": str(uuid.uuid4()),
        "cd_nom": SWALLOW,
        "observed_at": when,
        "latitude": LOOS_AT[0],
        "longitude": LOOS_AT[1],
        "count": 3,
    }


def _qr_path(svg: str) -> str:
    found = re.search(r'class="qrline"[^>]*\sd="([^"]+)"', svg) or re.search(
        r'\sd="(M4[^"]+)"', svg
    )
    assert found, svg[:300]
    return found.group(1)


def test_a_teacher_opens_a_class_shows_its_code_and_sees_the_pupils_sighting(
    page: Page, account: Callable[..., Any], sign_in: Callable[..., None], committed: Any
) -> None:
    account("teacher", "claire@example.org", "Claire Dubois")
    sign_in(page, "claire@example.org")
    assert page.url.endswith("/classes")
    expect(page).to_have_title("Mes classes · Sentinelles Loos-en-Gohelle")
    assert axe_violations(page) == []
    screenshots(page, "classes-empty")

    # The name forgotten: said at the field, the school kept.
    page.get_by_label("École").fill("École Basly")
    page.get_by_role("button", name="Ouvrir la classe").click()
    expect(page.get_by_label("Nom de la classe")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#name-error")).to_have_text(
        "Indiquez le nom de la classe, par exemple « CM1 B »."
    )
    expect(page.get_by_label("École")).to_have_value("École Basly")
    assert axe_violations(page) == []
    screenshots(page, "classes-form-error")
    page.get_by_label("Nom de la classe").fill("CM1 B")
    page.get_by_role("button", name="Ouvrir la classe").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("CM1 B")
    code = page.locator(".join-code .code-text").inner_text().strip()
    with Session(committed) as session:
        stored = session.exec(select(SchoolClass).where(col(SchoolClass.name) == "CM1 B")).one()
    assert code == stored.join_code

    # The QR code on the board opens the app's « Rejoindre ma classe » with the code, as
    # segno draws that address.
    qr = page.get_by_role("img", name=re.compile("QR code du code de la classe"))
    expect(qr).to_be_visible()
    markup = qr.evaluate("el => el.outerHTML")
    origin = re.match(r"https?://[^/]+", page.url)
    assert origin is not None
    join = f"{origin.group(0)}/observe/#/classe/{code}"
    expected = segno.make(join, error="m").svg_inline(scale=1, border=4, omitsize=True)
    assert _qr_path(markup) == _qr_path(expected)
    box = qr.bounding_box()
    assert box is not None and box["width"] >= 200  # readable from the back of the room
    assert axe_violations(page) == []
    screenshots(page, "class-board")

    # A pupil scans it: the app opens with the code filled in, asks a pseudonym, and joins.
    tablet = page.context.new_page()
    tablet.goto(join)
    expect(tablet.get_by_label("Code de la classe")).to_have_value(code)
    tablet.get_by_label("Ton pseudonyme").fill("Hibou 7")
    tablet.get_by_role("button", name="Rejoindre la classe").click()
    expect(tablet.locator("main .notice")).to_have_text(
        "Bienvenue, Hibou 7 : tu observes avec ta classe."
    )
    tablet.goto(f"{origin.group(0)}/observe/#/compte")
    expect(tablet.get_by_role("heading", level=1)).to_have_text("Ma classe")
    expect(tablet.locator("main")).to_contain_text("sous le pseudonyme « Hibou 7 »")
    assert axe_violations(tablet) == []
    tablet.close()

    # Another pupil joins on a tablet through the API, as any client may, and records a swallow.
    joined = page.request.post(
        "/api/v1/classes/join", data={"join_code": code.lower(), "pseudonym": "Renard 12"}
    )
    assert joined.status == 201, joined.text()
    pupil = {"Authorization": f"Bearer {joined.json()['access_token']}"}
    posted = page.request.post("/api/v1/observations", data=_sighting(), headers=pupil)
    assert posted.status == 201, posted.text()

    page.reload()
    expect(page.locator(".pupils")).to_contain_text("Renard 12")
    expect(page.locator(".pupils")).to_contain_text("Hibou 7")
    page.get_by_role("link", name="Afficher le bilan au vidéoprojecteur").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("CM1 B")
    expect(page.locator("table").first).to_contain_text("Hirondelle rustique")
    expect(page.locator("table").first).to_contain_text("14 avril 2026")
    assert axe_violations(page) == []
    # The classroom projector: 1024 × 768, nothing scrolls sideways and no table wraps a row.
    page.set_viewport_size({"width": 1024, "height": 768})
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 1
    page.screenshot(path=str(ARTIFACTS / "class-summary-1024.png"), full_page=True)
    wrapped = page.evaluate(WRAPPED_TEXT)
    assert wrapped == []
    screenshots(page, "class-summary")
    page.get_by_role("link", name="Retour à la classe").click()

    # End of the year: closed after the confirmation, the tablets refused, the pseudonyms gone.
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_label("Je confirme la fermeture").check()
    page.get_by_role("button", name="Fermer la classe").click()
    expect(page.get_by_role("status")).to_contain_text("La classe est fermée")
    expect(page.get_by_role("heading", name="Les élèves (0)")).to_be_visible()
    assert page.locator(".join-code").count() == 0
    refused = page.request.post("/api/v1/observations", data=_sighting(), headers=pupil)
    assert refused.status == 401
    with Session(committed) as session:
        pupils = session.exec(select(Pupil).where(col(Pupil.class_id) == stored.id)).all()
        assert [p.pseudonym for p in pupils] == [None, None]  # Hibou 7's and Renard 12's
    assert axe_violations(page) == []
    screenshots(page, "class-closed")


def test_a_sentinel_gets_the_french_403_on_classes(
    page: Page, account: Callable[..., Any], sign_in: Callable[..., None]
) -> None:
    account("sentinel", "paul@example.org", "Paul")
    sign_in(page, "paul@example.org")
    answer = page.goto("/classes")
    assert answer is not None and answer.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Accès refusé")
    expect(page.locator("main")).to_contain_text(
        "réservée aux administrateur·rices et aux enseignant·es"
    )
    assert axe_violations(page) == []


# --- the forms over plain HTTP ---------------------------------------------------------------


def _teacher_client(app: FastAPI, session: Session, settings: Any) -> tuple[TestClient, str]:
    teacher = create_user(session, settings, role="teacher", email="prof@example.org")
    session.flush()
    client = TestClient(app)
    client.get("/login", headers=HTML)
    token = client.cookies["sentinelles_csrf"]
    answer = client.post(
        "/login",
        data={"email": "prof@example.org", "password": DEFAULT_PASSWORD, "csrf_token": token},
        headers=HTML,
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    assert teacher.id
    return client, client.cookies["sentinelles_csrf"]


def _classes(session: Session) -> list[SchoolClass]:
    return list(session.exec(select(SchoolClass)))


def test_bad_class_forms_say_so_at_the_field_keep_the_values_and_open_nothing(
    app: FastAPI, session: Session, settings: Any
) -> None:
    client, token = _teacher_client(app, session, settings)
    form = {"csrf_token": token, "name": "", "school": "École Basly", "school_year": "2025-2026"}
    answer = client.post("/classes", data=form, headers=HTML)
    assert answer.status_code == 422
    assert 'id="name-error">Indiquez le nom de la classe' in answer.text
    assert 'value="École Basly"' in answer.text
    assert 'aria-invalid="true"' in answer.text

    long_name = "C" * 121
    form = {**form, "name": long_name, "school": "É" * 201, "school_year": "2025-2027"}
    answer = client.post("/classes", data=form, headers=HTML)
    assert answer.status_code == 422
    assert "120 caractères au plus" in answer.text
    assert "200 caractères au plus" in answer.text
    assert "sous la forme 2025-2026" in answer.text
    assert f'value="{long_name}"' in answer.text
    assert _classes(session) == []

    ok = client.post(
        "/classes",
        data={**form, "name": "CE2", "school": "École Basly", "school_year": "2025-2026"},
        headers=HTML,
        follow_redirects=False,
    )
    assert ok.status_code == 303
    (made,) = _classes(session)
    assert made.name == "CE2"


def test_closing_needs_the_confirmation_and_a_form_token(
    app: FastAPI, session: Session, settings: Any
) -> None:
    client, token = _teacher_client(app, session, settings)
    client.post(
        "/classes",
        data={
            "csrf_token": token,
            "name": "CM2",
            "school": "École Basly",
            "school_year": "2025-2026",
        },
        headers=HTML,
    )
    (made,) = _classes(session)
    answer = client.post(f"/classes/{made.id}/close", data={"csrf_token": token}, headers=HTML)
    assert answer.status_code == 422
    assert "Cochez la case pour confirmer" in answer.text
    forged = client.post(f"/classes/{made.id}/close", data={"confirm": "oui"}, headers=HTML)
    assert forged.status_code == 403
    session.refresh(made)
    assert made.active

    # Closed without erasing: the pseudonyms stay until the teacher erases them, confirmed.
    session.add(Pupil(class_id=made.id, pseudonym="Hérisson 3"))
    session.flush()
    closed = client.post(
        f"/classes/{made.id}/close", data={"csrf_token": token, "confirm": "oui"}, headers=HTML
    )
    assert closed.status_code == 200 and "Hérisson 3" in closed.text
    unconfirmed = client.post(f"/classes/{made.id}/erase", data={"csrf_token": token}, headers=HTML)
    assert unconfirmed.status_code == 422
    assert "Cochez la case pour confirmer l'effacement" in html.unescape(unconfirmed.text)
    erased = client.post(
        f"/classes/{made.id}/erase", data={"csrf_token": token, "confirm": "oui"}, headers=HTML
    )
    assert "Les pseudonymes des élèves sont effacés" in erased.text
    assert "Hérisson 3" not in erased.text
    session.expire_all()
    assert [p.pseudonym for p in session.exec(select(Pupil))] == [None]

    # Another teacher's class does not exist for this one.
    assert client.get(f"/classes/{uuid.uuid4()}", headers=HTML).status_code == 404
