"""The residents' app: a nest site and its visit made offline, the installable shell, the
tokens' rotation."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import httpx
from playwright.sync_api import BrowserContext, expect
from sqlalchemy import Engine, select
from sqlmodel import Session

from app.accounts.models import User
from app.surveys.models import Site, Visit, VisitCount
from tests.browser import axe_violations, screenshots
from tests.observe.conftest import shot
from tests.observe.helpers import PASSWORD, open_app, register, sign_in, tomorrow


def test_a_nest_site_and_its_visit_recorded_offline_sync_in_one_go(
    phone: BrowserContext, live_server: str, committed: Engine
) -> None:
    email = register(live_server)
    page = open_app(phone)
    sign_in(page, email)
    phone.set_offline(True)

    page.get_by_role("link", name="Mes sites").click()
    page.get_by_role("link", name="Ajouter un site").click()
    page.get_by_label("Type de site").select_option(label="Site de nidification")
    page.get_by_label("Nom du site").fill("Façades de la rue Jean Jaurès")
    page.get_by_role("button", name="Utiliser ma position").click()
    expect(page.get_by_text("précision ± 12 m")).to_be_visible()
    page.get_by_role("button", name="Enregistrer le site").click()
    expect(page.get_by_role("heading", name="Façades de la rue Jean Jaurès")).to_be_visible()

    page.get_by_role("link", name="Noter une visite").click()
    first = page.get_by_role("group", name="Espèce 1")
    expect(first.get_by_role("searchbox", name="Espèce")).to_have_value("Hirondelle de fenêtre")
    first.get_by_label("Nids occupés").fill("5")
    first.get_by_label("Nids vides").fill("2")
    first.get_by_label("Nids détruits").fill("1")
    page.get_by_role("button", name="Ajouter une espèce").click()
    second = page.get_by_role("group", name="Espèce 2")
    second.get_by_role("searchbox", name="Espèce").fill("martinet")
    second.get_by_role("button", name="Martinet noir").click()
    second.get_by_label("Nids occupés").fill("3")
    page.get_by_label("Durée (minutes)").fill("45")
    shot(page, "observe-visit-form")
    page.get_by_role("button", name="Enregistrer la visite").click()
    expect(page.get_by_text("Visite enregistrée sur le téléphone.")).to_be_visible()
    visits = page.get_by_role("list", name="Visites").get_by_role("listitem")
    expect(visits).to_have_count(1)
    expect(visits.first).to_contain_text("en attente d'envoi")
    expect(visits.first).to_contain_text("Hirondelle de fenêtre : 5 nids occupés")

    phone.set_offline(False)
    expect(visits.first).to_contain_text("envoyé")
    with Session(committed) as s:
        user = s.execute(select(User).where(User.email == email)).scalars().one()
        sites = s.execute(select(Site).where(Site.owner_id == user.id)).scalars().all()
        assert [(site.name, site.kind) for site in sites] == [
            ("Façades de la rue Jean Jaurès", "nest_site")
        ]
        visit = s.execute(select(Visit).where(Visit.site_id == sites[0].id)).scalars().one()
        assert visit.duration_min == 45
        counts = s.execute(select(VisitCount).where(VisitCount.visit_id == visit.id))
        assert sorted((c.occupied, c.unoccupied, c.destroyed) for c in counts.scalars().all()) == [
            (3, 0, 0),
            (5, 2, 1),
        ]


def test_a_rejected_visit_shows_its_french_reason_at_the_field_and_syncs_once_fixed(
    phone: BrowserContext, live_server: str, committed: Engine
) -> None:
    email = register(live_server)
    page = open_app(phone)
    sign_in(page, email)
    page.get_by_role("link", name="Mes sites").click()
    page.get_by_role("link", name="Ajouter un site").click()
    page.get_by_label("Type de site").select_option(label="Jardin")
    page.get_by_label("Nom du site").fill("Jardin des Tilleuls")
    page.get_by_role("button", name="Utiliser ma position").click()
    expect(page.get_by_text("précision ± 12 m")).to_be_visible()
    page.get_by_role("button", name="Enregistrer le site").click()
    page.get_by_role("link", name="Noter une visite").click()
    # A phone whose clock is a day ahead.
    page.get_by_label("Début de la visite").fill(tomorrow().strftime("%Y-%m-%dT%H:%M"))
    first = page.get_by_role("group", name="Espèce 1")
    first.get_by_role("searchbox", name="Espèce").fill("vulcain")
    first.get_by_role("button", name="Vulcain").click()
    first.get_by_label("Nombre vu en même temps (au plus)").fill("2")
    page.get_by_role("button", name="Enregistrer la visite").click()
    visit = page.get_by_role("list", name="Visites").get_by_role("listitem")
    expect(visit).to_contain_text("à corriger")
    expect(visit).to_contain_text("La date de la visite est dans le futur.")

    visit.get_by_role("link").click()
    start = page.get_by_label("Début de la visite")
    expect(start).to_have_attribute("aria-invalid", "true")
    expect(start).to_have_accessible_description("La date de la visite est dans le futur.")
    start.fill((datetime.now() - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Enregistrer la visite").click()
    expect(visit).to_contain_text("envoyé")
    with Session(committed) as s:
        user = s.execute(select(User).where(User.email == email)).scalars().one()
        site = s.execute(select(Site).where(Site.owner_id == user.id)).scalars().one()
        visits = s.execute(select(Visit).where(Visit.site_id == site.id)).scalars().all()
        assert len(visits) == 1
        counts = s.execute(select(VisitCount).where(VisitCount.visit_id == visits[0].id))
        assert [c.count for c in counts.scalars().all()] == [2]


def test_the_app_is_installable_and_opens_with_no_network(
    phone: BrowserContext, live_server: str
) -> None:
    manifest = httpx.get(f"{live_server}/observe/manifest.webmanifest")
    assert manifest.headers["content-type"].startswith("application/manifest+json")
    body = manifest.json()
    assert (body["lang"], body["display"], body["scope"]) == ("fr", "standalone", "/observe/")
    assert body["name"].startswith("Sentinelles")
    assert {i["sizes"] for i in body["icons"]} >= {"192x192", "512x512"}
    for icon in body["icons"]:
        assert httpx.get(f"{live_server}{icon['src']}").status_code == 200
    shell = httpx.get(f"{live_server}/observe/")
    csp = shell.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp.split("style-src")[0]
    assert "connect-src 'self'" in csp and "worker-src 'self'" in csp
    assert httpx.get(f"{live_server}/observe/static/../router.py").status_code == 404
    assert httpx.get(f"{live_server}/observe").status_code == 308

    page = open_app(phone)
    expect(page.get_by_role("heading", name="Mes observations")).to_be_visible()
    phone.set_offline(True)
    page.reload()
    page.wait_for_selector("body[data-ready='oui']")
    page.get_by_role("link", name="Noter", exact=True).click()
    # The species list came from the worker's copy: the search works with no network.
    page.get_by_role("searchbox", name="Espèce").fill("HIRONDELLE")
    choices = page.get_by_role("list", name="Espèces trouvées").get_by_role("button")
    expect(choices).to_have_count(3)
    expect(choices.first).to_contain_text("Hirondelle de fenêtre")
    # The position set by a touch on the small map of the zones, offline too.
    page.get_by_role("button", name="Choisir sur la carte").click()
    map_ = page.get_by_role("application", name="Carte : touchez l'endroit de l'observation")
    # The zones are drawn (no background tiles: they would need another host).
    # ten communes and the point, where the GPS put it
    expect(map_.locator("path")).to_have_count(11)
    # The phone's fix is there already (the GPS is granted); a touch moves it.
    expect(page.get_by_label("Latitude")).to_have_value("50.457100")
    map_.scroll_into_view_if_needed()
    map_.click(position={"x": 200, "y": 60})
    expect(page.get_by_label("Latitude")).not_to_have_value("50.457100")
    latitude = float(page.get_by_label("Latitude").input_value())
    assert 50.457 < latitude < 50.47
    expect(page.get_by_text("Position : ")).not_to_contain_text("précision")
    shot(page, "observe-map")


READ_SESSION = """() => new Promise((resolve) => {
    const open = indexedDB.open("sentinelles");
    open.onsuccess = () => {
      const get = open.result.transaction("meta").objectStore("meta").get("session");
      get.onsuccess = () => resolve(get.result);
    };
})"""
EXPIRE_ACCESS_TOKEN = """() => new Promise((resolve) => {
    const open = indexedDB.open("sentinelles");
    open.onsuccess = () => {
      const store = open.result.transaction("meta", "readwrite").objectStore("meta");
      const get = store.get("session");
      get.onsuccess = () => {
        store.put({ ...get.result, expires_at: 0 }, "session").onsuccess = resolve;
      };
    };
})"""


def test_a_reused_refresh_token_signs_the_resident_out_cleanly(
    phone: BrowserContext, live_server: str
) -> None:
    email = register(live_server)
    page = open_app(phone)
    sign_in(page, email)
    first = page.evaluate(READ_SESSION)
    # The access token expires: the app rotates the pair, and keeps working.
    page.evaluate(EXPIRE_ACCESS_TOKEN)
    page.get_by_role("button", name="Envoyer et mettre à jour").click()
    expect(page.get_by_text("Tout est à jour.")).to_be_visible()
    rotated = page.evaluate(READ_SESSION)
    assert rotated["refresh_token"] != first["refresh_token"]
    # Someone copied the phone's refresh token and uses it first...
    stolen = httpx.post(
        f"{live_server}/api/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]}
    )
    assert stolen.status_code == 200
    # ...so the app's next refresh reuses it: the server revokes the whole family, and the
    # app signs out and says why, its records kept for the next sign-in.
    page.evaluate(EXPIRE_ACCESS_TOKEN)
    page.get_by_role("button", name="Envoyer et mettre à jour").click()
    expect(page.get_by_role("heading", name="Se connecter")).to_be_visible()
    expect(
        page.get_by_text("Par sécurité, votre session a été fermée : reconnectez-vous.")
    ).to_be_visible()
    assert page.evaluate(READ_SESSION) is None
    stolen_again = httpx.post(
        f"{live_server}/api/v1/auth/refresh",
        json={"refresh_token": stolen.json()["refresh_token"]},
    )
    assert stolen_again.status_code == 401
    # Signing in again works.
    page.get_by_label("Adresse e-mail").fill(email)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_text("Vous êtes connecté·e.")).to_be_visible()


def test_every_view_is_accessible_and_fits_a_phone(phone: BrowserContext, live_server: str) -> None:
    email = register(live_server)
    page = open_app(phone)
    for name, hash_ in [("connexion", "#/compte"), ("inscription", "#/inscription")]:
        page.goto(f"/observe/{hash_}")
        page.wait_for_selector("body[data-ready='oui']")
        assert axe_violations(page) == [], name
        screenshots(page, f"observe-{name}")
    sign_in(page, email)
    page.get_by_role("link", name="Noter", exact=True).click()
    page.get_by_role("searchbox", name="Espèce").fill("azure")
    expect(page.get_by_role("list", name="Espèces trouvées").get_by_role("button")).to_have_count(2)
    page.get_by_role("button", name="Enregistrer").click()  # nothing chosen: said at the fields
    expect(page.get_by_text("Il manque des informations")).to_be_visible()
    expect(page.get_by_role("searchbox", name="Espèce")).to_have_attribute("aria-invalid", "true")
    for name, hash_ in [
        ("a-corriger", None),
        ("liste", "#/"),
        ("sites", "#/sites"),
        ("nouveau-site", "#/site-nouveau"),
        ("compte", "#/compte"),
    ]:
        if hash_:
            page.evaluate(f"location.hash = {hash_!r}")
            page.wait_for_timeout(200)
        assert axe_violations(page) == [], name
        screenshots(page, f"observe-{name}")


def test_the_apps_leaflet_is_the_release_the_pages_vendor() -> None:
    from pathlib import Path

    web = Path(__file__).resolve().parents[2] / "app" / "web"
    for name in ("leaflet.js", "leaflet.css", "LICENSE", "VERSION"):
        ours = (web / "observe" / "static" / "vendor" / "leaflet" / name).read_bytes()
        assert ours == (web / "static" / "vendor" / "leaflet" / name).read_bytes(), name


CREDIT = "Me citer par mon nom dans les données ouvertes publiées (sinon un pseudonyme anonyme)"


def test_registering_in_the_app_asks_before_crediting_by_name(
    phone: BrowserContext, live_server: str, committed: Engine
) -> None:
    page = open_app(phone)
    emails = {}
    for name, ticked in (("Noémie", False), ("Gaston", True)):
        page.goto("/observe/#/inscription")
        page.wait_for_selector("body[data-ready='oui']")
        credit = page.get_by_label(CREDIT)
        expect(credit).not_to_be_checked()  # nobody named unless they tick it
        expect(credit).to_have_accessible_description(
            "Votre nom affiché, jamais votre adresse e-mail ; modifiable ensuite dans "
            "« Mon compte » sur le site."
        )
        emails[name] = f"resident-{uuid.uuid4().hex[:8]}@example.org"
        page.get_by_label("Nom affiché").fill(name)
        page.get_by_label("Adresse e-mail").fill(emails[name])
        page.get_by_label("Mot de passe").fill(PASSWORD)
        if ticked:
            credit.check()
        page.get_by_role("button", name="Créer mon compte").click()
        expect(page.get_by_text("Vous êtes connecté·e.")).to_be_visible()
        page.get_by_role("link", name="Compte").click()
        page.get_by_role("button", name="Se déconnecter").click()
        expect(page.get_by_text("Vous êtes déconnecté·e.", exact=False)).to_be_visible()
    with Session(committed) as session:
        for name, ticked in (("Noémie", False), ("Gaston", True)):
            user = session.execute(select(User).where(User.email == emails[name])).scalars().one()
            assert user.credit_by_name is ticked, name
