"""The residents' app in a real browser: offline records, sync without duplicates, rejections
shown at the field, the ecologists' decisions brought back."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from playwright.sync_api import BrowserContext, Route, expect
from sqlalchemy import Engine

from tests.observe.conftest import shot
from tests.observe.helpers import (
    a_big_photo,
    ecologist_reviewer,
    observations_of,
    open_app,
    photos_of,
    record_sighting,
    register,
    sign_in,
    sync,
    tomorrow,
)


def test_three_sightings_recorded_offline_survive_a_reopening_and_sync_once(
    phone: BrowserContext, live_server: str, committed: Engine, tmp_path: Path
) -> None:
    email = register(live_server)
    page = open_app(phone)
    sign_in(page, email)
    phone.set_offline(True)

    record_sighting(page, "hirondelle rus", "Hirondelle rustique", 3, photo=a_big_photo(tmp_path))
    record_sighting(page, "martinet", "Martinet noir", 12, notes="au-dessus de l'église")
    record_sighting(page, "pieride du chou", "Piéride du Chou", 2)
    expect(page.get_by_text("Pas de réseau")).to_have_count(0)
    page.close()

    # Closed and opened again, still with no network: the app and its records are there.
    page = phone.new_page()
    page.goto("/observe/")
    page.wait_for_selector("body[data-ready='oui']")
    cards = page.get_by_role("list", name="Observations").get_by_role("listitem")
    expect(cards).to_have_count(3)
    expect(cards.filter(has_text="en attente d'envoi")).to_have_count(3)
    expect(page.get_by_role("status").filter(has_text="Hors ligne")).to_be_visible()
    shot(page, "observe-offline-list")
    assert observations_of(committed, email) == []

    # Back online, the app sends them by itself.
    phone.set_offline(False)
    expect(cards.filter(has_text="envoyé")).to_have_count(3)

    stored = observations_of(committed, email)
    assert sorted(o.count for o in stored) == [2, 3, 12]
    assert {o.accuracy_m for o in stored} == {12}
    photos = photos_of(committed, stored)
    assert len(photos) == 1
    # Made smaller on the phone: 3000 × 2000 sent as 2048 × 1365.
    assert (photos[0].width, photos[0].height) == (2048, 1365)

    # A second sync sends nothing again.
    sync(page)
    expect(page.get_by_text("Tout est à jour.")).to_be_visible()
    assert len(observations_of(committed, email)) == 3
    assert len(photos_of(committed, stored)) == 1


def test_a_sync_cut_after_the_server_stored_the_batch_is_resent_without_duplicates(
    phone: BrowserContext, live_server: str, committed: Engine
) -> None:
    email = register(live_server)
    page = open_app(phone)
    sign_in(page, email)
    phone.set_offline(True)
    record_sighting(page, "hirondelle de fen", "Hirondelle de fenêtre", 4)
    record_sighting(page, "vulcain", "Vulcain", 1)

    cut: list[int] = []

    def store_then_lose_the_answer(route: Route) -> None:
        answer = route.fetch()  # the server stores the batch and answers...
        cut.append(answer.status)
        route.abort("connectionreset")  # ...but the answer never reaches the phone

    page.route("**/api/v1/observations/batch", store_then_lose_the_answer)
    phone.set_offline(False)  # the app sends at once
    sync(page)
    expect(page.get_by_text("Pas de réseau")).to_be_visible()
    assert cut and set(cut) == {200}
    assert len(observations_of(committed, email)) == 2
    cards = page.get_by_role("list", name="Observations").get_by_role("listitem")
    expect(cards.filter(has_text="en attente d'envoi")).to_have_count(2)

    page.unroute("**/api/v1/observations/batch")
    sync(page)
    expect(cards.filter(has_text="envoyé")).to_have_count(2)
    stored = observations_of(committed, email)
    assert len(stored) == 2
    assert len({o.client_id for o in stored}) == 2


def test_a_rejected_sighting_shows_the_french_reason_at_its_field_and_syncs_once_fixed(
    phone: BrowserContext, live_server: str, committed: Engine
) -> None:
    email = register(live_server)
    page = open_app(phone)
    sign_in(page, email)
    # A phone whose clock is a day ahead.
    record_sighting(page, "paon", "Paon-du-jour", 1, when=tomorrow())
    record_sighting(page, "citron", "Citron", 2)
    sync(page)
    card = page.get_by_role("listitem").filter(has_text="Paon-du-jour")
    expect(card).to_contain_text("à corriger")
    expect(card).to_contain_text("La date d'observation est dans le futur.")
    assert [o.count for o in observations_of(committed, email)] == [2]

    card.get_by_role("link").click()
    expect(page.get_by_role("heading", name="Corriger l'observation")).to_be_visible()
    date = page.get_by_label("Date et heure")
    expect(date).to_have_attribute("aria-invalid", "true")
    expect(date).to_have_accessible_description(
        "Maintenant, ou modifiez-les. La date d'observation est dans le futur."
    )
    shot(page, "observe-rejected-field")
    date.fill((datetime.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Enregistrer").click()
    expect(page.get_by_text("Observation enregistrée sur le téléphone.")).to_be_visible()
    sync(page)
    expect(page.get_by_role("listitem").filter(has_text="Paon-du-jour")).to_contain_text("envoyé")
    stored = observations_of(committed, email)
    assert sorted(o.count for o in stored) == [1, 2]


def test_the_ecologists_decisions_reach_the_app_at_the_next_sync(
    phone: BrowserContext, live_server: str, committed: Engine, tmp_path: Path
) -> None:
    email = register(live_server)
    page = open_app(phone)
    sign_in(page, email)
    record_sighting(page, "hirondelle rus", "Hirondelle rustique", 3)
    record_sighting(page, "lezard", "Lézard des murailles", 1)
    record_sighting(page, "tircis", "Tircis", 5)
    sync(page)

    expect(page.get_by_role("listitem").filter(has_text="envoyé")).to_have_count(3)
    by_count = {o.count: o for o in observations_of(committed, email)}
    review = ecologist_reviewer(live_server, committed)
    review(by_count[3].id, "validated", "Bien vu !")
    review(by_count[1].id, "rejected", "C'est un lézard des souches.")
    review(by_count[5].id, "needs_info", "Une photo du dessous des ailes ?")

    sync(page)
    swallows = page.get_by_role("listitem").filter(has_text="Hirondelle rustique")
    expect(swallows).to_contain_text("validé")
    expect(swallows).to_contain_text("Commentaire du CPIE : Bien vu !")
    lizard = page.get_by_role("listitem").filter(has_text="Lézard des murailles")
    expect(lizard).to_contain_text("refusé")
    expect(lizard).to_contain_text("Commentaire du CPIE : C'est un lézard des souches.")
    ringlet = page.get_by_role("listitem").filter(has_text="Tircis")
    expect(ringlet).to_contain_text("information demandée")
    expect(ringlet).to_contain_text("Une photo du dessous des ailes ?")
    shot(page, "observe-statuses")

    # Asked for a photo, the resident adds one to the sighting: it goes at once.
    ringlet.get_by_role("link").click()
    expect(page.get_by_role("heading", name="Tircis")).to_be_visible()
    expect(
        page.get_by_text("Commentaire du CPIE : Une photo du dessous des ailes ?")
    ).to_be_visible()
    with page.expect_file_chooser() as chooser:
        page.get_by_text("Ajouter depuis la galerie").click()
    chooser.value.set_files(str(a_big_photo(tmp_path)))
    expect(page.get_by_text("Photo enregistrée sur le téléphone.")).to_be_visible()
    page.get_by_role("link", name="Mes observations", exact=True).click()
    expect(ringlet).to_contain_text("1 photo")
    expect(ringlet).not_to_contain_text("en attente d'envoi")
    assert len(photos_of(committed, [by_count[5]])) == 1
