"""The town's public dashboard at ``/``: what an anonymous visitor sees, that a protected
species is never placed more precisely than its cell in anything the page loads, and that the
cached page follows the data."""

from __future__ import annotations

import itertools
import math
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from playwright.sync_api import Page, Response, expect
from sqlalchemy import Engine
from sqlmodel import Session

from app.core.settings import Settings
from app.observations.visibility import public_position
from app.web.dashboard_data import CACHE
from app.zones.grid import CELL_10KM, cell_of
from tests.browser import axe_violations, screenshots
from tests.factories import (
    auth_headers,
    create_baseline,
    create_observation,
    create_user,
)

PEREGRINE = 2938  # Faucon pèlerin: sensitive (10 km cell) in the shipped reference
SWALLOW = 3696
HOUSE_MARTIN = 459478
# The falcons' nest on a slag heap of Loos-en-Gohelle: the secret; digits found nowhere else.
NEST = (50.45083, 2.77419)
GARDEN = (50.4571, 2.7852)
SCHOOL = (50.4622, 2.7741)


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    CACHE.clear()
    yield
    CACHE.clear()


def this_year() -> int:
    return datetime.now(ZoneInfo("Europe/Paris")).year


def _town(session: Session, settings: Settings) -> dict[str, Any]:
    """Three sentinels, the swallows' returns of past springs, this year's sightings and the
    CPIE's baselines."""
    year = this_year()
    camille = create_user(session, settings, display_name="Camille")
    jules = create_user(session, settings, display_name="Jules")
    for back, (day, martin_day) in enumerate(((4, 15), (9, 12), (2, 20)), start=1):
        create_observation(
            session,
            observer=camille,
            cd_nom=SWALLOW,
            observed_at=f"{year - back}-04-{day:02d}T08:00:00+02:00",
            status="validated",
        )
        create_observation(
            session,
            observer=jules,
            cd_nom=HOUSE_MARTIN,
            observed_at=f"{year - back}-04-{martin_day:02d}T08:00:00+02:00",
            at=SCHOOL,
            status="validated",
        )
    now = datetime.now(UTC) - timedelta(minutes=30)
    create_observation(
        session, observer=camille, observed_at=now, count=6, at=GARDEN, status="validated"
    )
    create_observation(
        session,
        observer=jules,
        cd_nom=HOUSE_MARTIN,
        observed_at=now,
        count=14,
        at=SCHOOL,
        status="validated",
    )
    create_observation(session, observer=jules, observed_at=now, count=40, status="pending")
    create_baseline(session, year=year - 6, cd_nom=SWALLOW, count=10, unit="individuals")
    create_baseline(session, year=year - 6, cd_nom=HOUSE_MARTIN, count=20, unit="individuals")
    return {"year": year, "camille": camille, "jules": jules, "now": now}


def _validated_nest(session: Session, settings: Settings, observer: Any, at: datetime) -> None:
    """A peregrine falcon seen at the nest, stored as the capture stores it."""
    public = public_position(sensitive=True, latitude=NEST[0], longitude=NEST[1], accuracy_m=8.0)
    create_observation(
        session,
        observer=observer,
        cd_nom=PEREGRINE,
        observed_at=at,
        at=NEST,
        accuracy_m=8.0,
        public_latitude=public.latitude,
        public_longitude=public.longitude,
        public_accuracy_m=public.accuracy_m,
        generalised=True,
        status="validated",
    )


def _pages(app: FastAPI) -> TestClient:
    return TestClient(app, base_url="http://testserver", headers={"accept": "text/html"})


def _within(text: str, point: tuple[float, float], metres: float) -> list[tuple[float, float]]:
    """Number pairs of ``text`` (lat, lon or lon, lat) closer than ``metres`` to ``point``."""
    numbers = [float(n) for n in re.findall(r"-?\d+\.\d+", text)]
    near = []
    for a, b in itertools.pairwise(numbers):
        for lat, lon in ((a, b), (b, a)):
            dy = (lat - point[0]) * 111_320
            dx = (lon - point[1]) * 111_320 * math.cos(math.radians(point[0]))
            if math.hypot(dx, dy) < metres:
                near.append((lat, lon))
    return near


def _secret_strings() -> list[str]:
    lat, lon = NEST
    found = []
    for digits in (6, 5, 4):
        found += [f"{lat:.{digits}f}", f"{lon:.{digits}f}"]
    found += [f"{lat:.4f}".replace(".", ","), f"{lon:.4f}".replace(".", ",")]
    return found


# --- over HTTP --------------------------------------------------------------------------------


def test_the_dashboard_shows_the_year_in_french_against_the_inventory(
    app: FastAPI, session: Session, settings: Settings
) -> None:
    town = _town(session, settings)
    year = town["year"]
    _validated_nest(session, settings, town["jules"], town["now"])
    session.commit()

    answer = _pages(app).get("/")
    assert answer.status_code == 200
    html = answer.text
    assert f"La nature à Loos-en-Gohelle en {year}" in html
    # 3 validated this year (the pending one is not), 3 species, 2 sentinels.
    figures = re.findall(r'<span class="kf-value">([^<]+)</span>', html)
    assert figures[:3] == ["3", "3", "2"]
    assert "observations validées en" in html
    # The swallows' first returns, in French, year by year.
    assert "4 avril" in html and "9 avril" in html and "20 avril" in html
    assert f'<th scope="row">{year - 2}</th>' in html
    # The comparison: 6 swallows against the inventory's 10 is −40 %.
    assert "Hirondelle rustique" in html and "−40&nbsp;%" in html and "en baisse" in html
    assert "10 individus" in html and f"({year - 6})" in html
    # The chart the comparison table goes with, and the protected species' cell only.
    chart = _pages(app).get(f"/dashboard/comparison.svg?year={year}")
    assert chart.status_code == 200 and chart.headers["content-type"] == "image/svg+xml"
    for secret in _secret_strings():
        assert secret not in html


def test_the_dashboard_compares_nests_with_nests_and_says_the_unit(
    app: FastAPI, session: Session, settings: Settings
) -> None:
    year = this_year()
    camille = create_user(session, settings, display_name="Camille")
    now = datetime.now(UTC) - timedelta(minutes=30)
    for count, unit in ((14, "nests"), (200, "individuals")):
        create_observation(
            session,
            observer=camille,
            cd_nom=HOUSE_MARTIN,
            observed_at=now,
            count=count,
            count_unit=unit,
            status="validated",
        )
    create_baseline(session, year=year - 6, cd_nom=HOUSE_MARTIN, count=20, unit="nests")
    create_baseline(session, year=year - 6, cd_nom=SWALLOW, count=10, unit="individuals")
    session.commit()

    html = _pages(app).get("/").text
    table = " ".join(re.sub(r"<[^>]+>", " ", html.split('class="comparison"')[1]).split())
    # 14 nests against 20 (the 200 birds are not nests): −30 %.
    assert "20 nids" in table and "14 nids" in table and "−30&nbsp;%" in table
    # The swallow has a baseline but nothing this year: said in words.
    assert "non revue cette année" in table
    chart = _pages(app).get(f"/dashboard/comparison.svg?year={year}").text
    assert "<!-- non revue cette année -->" in chart and "<!-- −30\u00a0% -->" in chart


def test_the_map_data_show_a_protected_species_only_as_its_cell(
    app: FastAPI, session: Session, settings: Settings
) -> None:
    town = _town(session, settings)
    _validated_nest(session, settings, town["jules"], town["now"])
    session.commit()

    answer = _pages(app).get("/dashboard/map.geojson")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/geo+json")
    collection = answer.json()
    kinds = {}
    for feature in collection["features"]:
        kinds.setdefault(feature["properties"]["kind"], []).append(feature)
    assert len(kinds["point"]) == 2
    (cell,) = kinds["cell"]
    expected = cell_of(*NEST, CELL_10KM)
    assert cell["properties"]["cell"] == expected.code
    assert cell["properties"]["species"] == [{"name": "Faucon pèlerin", "observations": 1}]
    assert cell["geometry"]["type"] == "Polygon"
    assert len(cell["geometry"]["coordinates"][0]) == 5  # the cell's four corners
    assert _within(answer.text, NEST, 500) == []
    for secret in _secret_strings():
        assert secret not in answer.text

    # Unchanged data: the browser's copy is still good.
    again = _pages(app).get(
        "/dashboard/map.geojson", headers={"if-none-match": answer.headers["etag"]}
    )
    assert again.status_code == 304 and again.content == b""


def test_a_crowd_costs_one_computation_and_new_data_show_on_the_next_visit(
    app: FastAPI, session: Session, settings: Settings
) -> None:
    town = _town(session, settings)
    session.commit()
    pages = _pages(app)
    first = pages.get("/")
    tag = pages.get("/dashboard/map.geojson").headers["etag"]
    builds = CACHE.builds
    for _ in range(5):
        assert pages.get("/").text.count("kf-value") == first.text.count("kf-value")
        pages.get("/dashboard/map.geojson")
    assert CACHE.builds == builds  # nothing recomputed for the same data

    create_observation(
        session,
        observer=town["camille"],
        cd_nom=HOUSE_MARTIN,
        observed_at=town["now"],
        at=SCHOOL,
        status="validated",
    )
    session.commit()
    figures = re.findall(r'<span class="kf-value">([^<]+)</span>', pages.get("/").text)
    assert figures[0] == "3"
    renewed = pages.get("/dashboard/map.geojson", headers={"if-none-match": tag})
    assert renewed.status_code == 200 and renewed.headers["etag"] != tag
    assert len(renewed.json()["features"]) == 3


def test_an_earlier_year_is_chosen_from_the_list(
    app: FastAPI, session: Session, settings: Settings
) -> None:
    town = _town(session, settings)
    session.commit()
    year = town["year"] - 2
    html = _pages(app).get(f"/?year={year}").text
    assert f"La nature à Loos-en-Gohelle en {year}" in html
    assert f'<option value="{year}" selected>' in html
    assert re.findall(r'<span class="kf-value">([^<]+)</span>', html)[:3] == ["2", "2", "2"]
    assert _pages(app).get("/?year=1492").status_code == 422


# --- in a browser -----------------------------------------------------------------------------


def test_an_anonymous_visitor_sees_the_map_and_charts_but_never_the_nest(
    page: Page, committed: Engine, committing_app: FastAPI, live_server: str
) -> None:
    settings: Settings = committing_app.state.settings
    with Session(committed) as session:
        town = _town(session, settings)
        ecologist = create_user(session, settings, role="ecologist", display_name="Élise")
        session.commit()
        observer = auth_headers(town["jules"], settings)
        staff = auth_headers(ecologist, settings)
        camille = town["camille"].id
    # The falcon reported from the phone and validated by the CPIE, through the API.
    sighting = page.request.post(
        "/api/v1/observations",
        headers=observer,
        data={
            "client_id": str(uuid.uuid4()),
            "cd_nom": PEREGRINE,
            "observed_at": town["now"].isoformat(),
            "latitude": NEST[0],
            "longitude": NEST[1],
            "accuracy_m": 5,
            "count": 2,
            "count_unit": "individuals",
        },
    )
    assert sighting.status == 201, sighting.text()
    review = page.request.post(
        f"/api/v1/observations/{sighting.json()['id']}/review",
        headers=staff,
        data={"decision": "validated"},
    )
    assert review.status == 200, review.text()

    loaded: list[tuple[str, str]] = []

    def keep(response: Response) -> None:
        if response.request.resource_type in ("image", "font"):
            return
        try:
            loaded.append((response.url, response.text()))
        except Exception:  # a redirect or an empty body
            loaded.append((response.url, ""))

    page.on("response", keep)
    page.goto("/")
    expect(page).to_have_title(f"Tableau de bord {town['year']} · Sentinelles Loos-en-Gohelle")
    expect(page.get_by_role("heading", level=1)).to_contain_text(str(town["year"]))
    the_map = page.locator("#carte-observations")
    expect(the_map).to_have_attribute("data-features", "3")
    expect(the_map.locator("path.dash-point")).to_have_count(2)
    expect(the_map.locator("path.dash-cell")).to_have_count(1)
    expect(page.get_by_role("img", name=re.compile("évolution de chaque espèce"))).to_be_visible()
    table = page.get_by_role("table", name=re.compile("comparées à l'inventaire"))
    expect(table.get_by_role("row", name=re.compile("Hirondelle rustique"))).to_contain_text(
        "−40 %"
    )
    expect(table.get_by_role("row", name=re.compile("Faucon pèlerin"))).to_contain_text("nouvelle")
    # The cell is there to be clicked; it says it is a protected species.
    the_map.locator("path.dash-cell").click(force=True)
    expect(page.locator(".leaflet-popup-content")).to_contain_text("Faucon pèlerin")
    page.keyboard.press("Escape")

    page.wait_for_load_state("networkidle")
    loaded.append(("html", page.content()))
    assert any(url.endswith(f"/dashboard/map.geojson?year={town['year']}") for url, _ in loaded)
    cell = cell_of(*NEST, CELL_10KM)
    map_data = next(body for url, body in loaded if "/dashboard/map.geojson" in url)
    assert cell.code in map_data
    for url, body in loaded:
        for secret in _secret_strings():
            assert secret not in body, f"{secret} in {url}"
        assert _within(body, NEST, 300) == [], url

    assert axe_violations(page) == []
    page.evaluate("() => document.activeElement?.blur()")
    screenshots(page, "dashboard")

    # A sighting validated later shows on the next visit.
    with Session(committed) as session:
        create_observation(
            session,
            observer=camille,
            cd_nom=HOUSE_MARTIN,
            observed_at=town["now"],
            at=SCHOOL,
            status="validated",
        )
        session.commit()
    page.reload()
    expect(page.locator(".kf-obs .kf-value")).to_have_text("4")
    expect(page.locator("#carte-observations")).to_have_attribute("data-features", "4")


def test_choosing_a_year_shows_it_at_once(
    page: Page, committed: Engine, committing_app: FastAPI
) -> None:
    settings: Settings = committing_app.state.settings
    with Session(committed) as session:
        town = _town(session, settings)
        session.commit()
    page.goto("/")
    page.get_by_label("Année affichée").select_option(str(town["year"] - 1))
    expect(page).to_have_url(re.compile(rf"\?year={town['year'] - 1}$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(str(town["year"] - 1))
    expect(page.locator(".kf-obs .kf-value")).to_have_text("2")
