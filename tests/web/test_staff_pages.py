"""The ecologists' reference and output pages in a browser: the inventory import with a bad
line then a good file, a species marked sensitive, the yearly comparison and its charts, and
an export counted then downloaded."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import Engine
from sqlmodel import Session, func, select

from app.baselines.models import Baseline
from app.core.db import utcnow
from tests.browser import axe_violations, screenshots
from tests.factories import (
    create_baseline,
    create_observation,
    create_site,
    create_user,
    create_visit,
    species_by_cd_nom,
)

HOUSE_MARTIN, SWALLOW, TOAD = 459478, 3696, 259
HEADER = "year,cd_nom,zone_code,site_code,count,unit,method,source\n"


@pytest.fixture
def ecologist_page(page: Page, account: Callable[..., Any], sign_in: Callable[..., None]) -> Page:
    account("ecologist", "claire@example.org", "Claire (CPIE)")
    sign_in(page, "claire@example.org")
    return page


def baselines_stored(engine: Engine) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(Baseline)).one()


def test_an_inventory_with_one_bad_line_imports_nothing_then_a_good_one_imports(
    ecologist_page: Page, committed: Engine
) -> None:
    page = ecologist_page
    page.goto("/baselines")
    expect(page).to_have_title("Inventaire de référence · Sentinelles Loos-en-Gohelle")
    expect(page.get_by_text("Aucune valeur de référence n'a encore été importée.")).to_be_visible()
    # Over 4 MiB: refused in the page, before the server would refuse the body.
    page.get_by_label("Fichier de l'inventaire").set_input_files(
        files=[{"name": "gros.csv", "mimeType": "text/csv", "buffer": b"x" * (4 * 1024 * 1024 + 1)}]
    )
    page.get_by_role("button", name="Importer").click()
    expect(page.locator("#file-size-error")).to_have_text("Le fichier dépasse 4 Mo : découpez-le.")
    expect(page.get_by_label("Fichier de l'inventaire")).to_be_focused()
    bad = (
        HEADER
        + "2010,459478,,,34,nests,recensement des façades,CPIE inventaire 2010\n"
        + "2010,3696,,,12,nids,recensement des granges,CPIE inventaire 2010\n"
        + "2010,259,,,1,presence,prospection des mares,CPIE inventaire 2010\n"
    )
    page.get_by_label("Fichier de l'inventaire").set_input_files(
        files=[{"name": "inventaire-2010.csv", "mimeType": "text/csv", "buffer": bad.encode()}]
    )
    page.get_by_role("button", name="Importer").click()
    expect(page.get_by_role("alert")).to_contain_text("Rien n'a été importé.")
    rows = page.locator("#line-errors tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first.locator("td")).to_have_text(
        ["3", "unit (unité)", "l'unité « nids » n'est pas l'une de : individuals, nests, presence"]
    )
    expect(page.get_by_label("Fichier de l'inventaire")).to_have_attribute("aria-invalid", "true")
    assert baselines_stored(committed) == 0
    assert axe_violations(page) == []
    screenshots(page, "baselines-errors")

    page.get_by_label("Fichier de l'inventaire").set_input_files(
        files=[
            {
                "name": "inventaire-2010.csv",
                "mimeType": "text/csv",
                "buffer": bad.replace(",nids,", ",nests,").encode(),
            }
        ]
    )
    page.get_by_role("button", name="Importer").click()
    expect(page.get_by_role("status")).to_contain_text("3 lignes importées")
    expect(page.locator("#baselines tbody tr")).to_have_count(3)
    expect(page.locator("#baselines")).to_contain_text("Hirondelle de fenêtre")
    expect(page.locator("#baselines")).to_contain_text("recensement des façades")
    assert baselines_stored(committed) == 3
    template = page.request.get("/static/files/inventaire-modele.csv")
    assert template.ok and template.text().startswith(HEADER.strip())
    assert axe_violations(page) == []
    screenshots(page, "baselines")


@pytest.fixture
def martin_restored(committed: Engine) -> Iterator[None]:
    """The shipped species are kept between tests: put the house martin back as it shipped."""
    yield
    with Session(committed) as session:
        martin = species_by_cd_nom(session, HOUSE_MARTIN)
        martin.sensitive = False
        martin.generalisation = "grid_10km"
        martin.updated_at = utcnow()
        session.add(martin)
        session.commit()


def test_an_ecologist_finds_a_species_without_accents_and_marks_it_sensitive(
    ecologist_page: Page, martin_restored: None
) -> None:
    page = ecologist_page
    page.goto("/species")
    expect(page).to_have_title("Référentiel des espèces · Sentinelles Loos-en-Gohelle")
    assert axe_violations(page) == []
    screenshots(page, "species")
    page.get_by_label("Nom ou cd_nom").fill("hirondelle de fenetre")
    page.get_by_role("button", name="Chercher").click()
    row = page.locator("tbody tr", has_text="Hirondelle de fenêtre")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Non sensible")
    row.get_by_label("Floutage pour Hirondelle de fenêtre").select_option(label="commune")
    row.get_by_role("button", name="Marquer sensible").click()
    expect(page.get_by_role("status")).to_contain_text(
        "Hirondelle de fenêtre : espèce marquée sensible "
        "(positions publiques floutées à la commune)."
    )
    expect(page.get_by_label("Nom ou cd_nom")).to_have_value("hirondelle de fenetre")
    row = page.locator("tbody tr", has_text="Hirondelle de fenêtre")
    expect(row).to_contain_text("Sensible")
    species_id = (row.get_attribute("id") or "").removeprefix("espece-")
    api = page.request.get(f"/api/v1/species/{species_id}").json()
    assert (api["cd_nom"], api["sensitive"], api["generalisation"]) == (
        HOUSE_MARTIN,
        True,
        "commune",
    )
    assert axe_violations(page) == []
    screenshots(page, "species-marked")
    row.get_by_role("button", name="Ne plus marquer sensible").click()
    expect(page.get_by_role("status")).to_contain_text("espèce non sensible")
    assert page.request.get(f"/api/v1/species/{species_id}").json()["sensitive"] is False


# Occupied house martin nests per façade and year: a fifth fewer each year.
FACADES = {"A": [20, 16, 13, 10, 8], "B": [10, 8, 6, 5, 4], "C": [30, 24, 19, 15, 12]}
YEARS = [2021, 2022, 2023, 2024, 2025]


@pytest.fixture
def martins(committed: Engine, settings: Any) -> None:
    with Session(committed) as session:
        owner = create_user(session, settings, display_name="Léa")
        for code, counts in FACADES.items():
            site = create_site(session, owner=owner, name=f"Façades {code}", code=f"HIR-{code}")
            for year, occupied in zip(YEARS, counts, strict=True):
                create_visit(
                    session,
                    site=site,
                    started_at=datetime(year, 6, 10, 8, tzinfo=UTC),
                    complete=True,
                    status="validated",
                    counts=[{"cd_nom": HOUSE_MARTIN, "occupied": occupied}],
                )
        create_baseline(session, year=2010, cd_nom=HOUSE_MARTIN, count=40, unit="nests")
        create_baseline(session, year=2010, cd_nom=TOAD, count=1, unit="presence")
        session.commit()


def test_the_yearly_comparison_and_its_charts(ecologist_page: Page, martins: None) -> None:
    page = ecologist_page
    charts: dict[str, tuple[int, str]] = {}
    page.on(
        "response",
        lambda r: (
            charts.__setitem__(
                r.url.split("?")[0].rsplit("/", 1)[-1],
                (
                    r.status,
                    r.headers.get("content-type", ""),
                ),
            )
            if ".svg" in r.url
            else None
        ),
    )
    page.goto("/stats?year=2025")
    expect(page.get_by_role("heading", level=1)).to_have_text("Bilans : 2025 face à l'inventaire")
    martin = page.locator("#comparison-table tbody tr", has_text="Hirondelle de fenêtre")
    # 40 nests in 2010, 8 + 4 + 12 = 24 in 2025: -40 %.
    expect(martin.locator("td")).to_have_text(
        ["2010", "40 nids", re.compile(r"^24 nids"), "−40,0 %", "En baisse", "fort déclin"]
    )
    toad = page.locator("#comparison-table tbody tr", has_text="Crapaud commun")
    expect(toad).to_contain_text("Non revue")
    for chart in ("#comparison-chart", "#trend-chart"):
        expect(page.locator(chart)).to_be_visible()
        assert page.locator(chart).evaluate("img => img.complete && img.naturalWidth > 0")
    assert charts["comparison.svg"] == (200, "image/svg+xml")
    assert charts["trends.svg"] == (200, "image/svg+xml")
    assert axe_violations(page) == []
    screenshots(page, "stats")

    page.get_by_label("Tendance de l'espèce").select_option(label="Crapaud commun")
    page.get_by_role("button", name="Afficher").click()
    expect(page.locator("#trend-error")).to_contain_text("Crapaud commun :")
    expect(page.locator("#trend-chart")).to_have_count(0)


@pytest.fixture
def sightings(committed: Engine, settings: Any) -> None:
    with Session(committed) as session:
        observer = create_user(session, settings, display_name="Martine D.")
        for day, cd_nom in ((3, SWALLOW), (12, SWALLOW), (20, TOAD)):
            create_observation(
                session,
                observer=observer,
                cd_nom=cd_nom,
                observed_at=f"2026-04-{day:02d}T09:00:00+02:00",
                status="validated",
            )
        create_observation(session, observer=observer, status="pending")
        create_observation(
            session, observer=observer, observed_at="2025-05-01T09:00:00+02:00", status="validated"
        )
        session.commit()


def test_an_export_is_counted_then_downloaded(ecologist_page: Page, sightings: None) -> None:
    page = ecologist_page
    page.goto("/exports")
    expect(page.locator("#row-count")).to_have_text("4 observations correspondent à ces filtres.")
    page.get_by_label("Année d'observation").fill("2026")
    page.get_by_role("button", name="Compter").click()
    expect(page.locator("#row-count")).to_have_text("3 observations correspondent à ces filtres.")
    assert axe_violations(page) == []
    screenshots(page, "exports")
    with page.expect_download() as info:
        page.get_by_role("link", name="CSV tableur, virgules").click()
    download = info.value
    assert download.suggested_filename.endswith("-observations.csv")
    rows = list(csv.DictReader(io.StringIO(download.path().read_text(encoding="utf-8"))))
    assert len(rows) == 3
    assert sorted(r["scientific_name"] for r in rows) == [
        "Bufo bufo",
        "Hirundo rustica",
        "Hirundo rustica",
    ]
    assert {r["observer"] for r in rows} == {"Martine D."}

    page.get_by_label("Statut").select_option(label="À valider")
    page.get_by_label("Année d'observation").fill("")
    page.get_by_role("button", name="Compter").click()
    expect(page.locator("#row-count")).to_have_text("1 observation correspond à ces filtres.")
    for name, kind in (
        ("GeoJSON", "application/geo+json"),
        ("Darwin Core Archive", "application/zip"),
        ("SINP", "text/csv"),
    ):
        href = page.get_by_role("link", name=name).get_attribute("href") or ""
        answer = page.request.get(href)
        assert answer.status == 200 and answer.headers["content-type"].startswith(kind), name

    page.get_by_label("Année d'observation").fill("deux mille")
    page.get_by_role("button", name="Compter").click()
    expect(page.locator("#year-error")).to_have_text(
        "Indiquez une année entre 1900 et 2100 (par exemple 2026)."
    )
    expect(page.get_by_label("Année d'observation")).to_have_value("deux mille")
    assert axe_violations(page) == []


def test_the_open_data_is_published_from_the_exports_page(
    ecologist_page: Page, sightings: None, settings: Any
) -> None:
    page = ecologist_page
    page.goto("/exports#donnees-ouvertes")
    expect(page.locator("#donnees-ouvertes")).to_contain_text("Rien n'est encore publié.")
    page.get_by_role("button", name="Publier maintenant").click()
    expect(page.locator("#publish-error")).to_contain_text("contact")
    settings.dataset_contact_email = "donnees@cpie-terrils.fr"
    page.get_by_role("button", name="Publier maintenant").click()
    expect(page.get_by_role("status").filter(has_text="publiées")).to_have_text(
        "Les données ouvertes ont été publiées."
    )
    section = page.locator("#donnees-ouvertes")
    expect(section).to_contain_text("Publiées le")
    expect(section.get_by_role("link", name="Darwin Core Archive")).to_be_visible()
    assert axe_violations(page) == []
    screenshots(page, "exports-open-data")
    href = section.get_by_role("link", name="CSV").get_attribute("href") or ""
    answer = page.request.get(href)
    assert answer.status == 200
    lines = answer.text().strip().splitlines()
    assert len(lines) == 5  # the header and the four validated sightings
