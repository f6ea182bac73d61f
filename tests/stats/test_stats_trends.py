"""``GET /stats/trends`` and the charts: TRIM on the survey sites' yearly values, the baselines
tied to sites as their first years, and clear 422s when there is no series to fit."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from app.accounts.models import User
from app.baselines.service import import_baselines
from app.core.settings import Settings
from app.species.models import Species
from app.surveys.models import Site, Visit, VisitCount
from tests.factories import create_user, load_reference_data

HOUSE_MARTIN, PEACOCK = 459478, 608364
LOOS = (50.4571, 2.7852)
# Occupied nests per site and year: every site loses about a fifth of its nests a year.
SERIES = {
    "A": [20, 16, 13, 10, 8],
    "B": [10, 8, None, 5, 4],  # not counted in the third year: TRIM imputes it
    "C": [30, 24, 19, 15, 12],
    "D": [6, 5, 4, 3, 2],
}
YEARS = [2021, 2022, 2023, 2024, 2025]


def _facades(session: Session, settings: Settings, owner: User) -> dict[str, Site]:
    martin = session.exec(select(Species).where(col(Species.cd_nom) == HOUSE_MARTIN)).one()
    sites = {}
    for code, counts in SERIES.items():
        site = Site(
            client_id=uuid.uuid4(),
            owner_id=owner.id,
            kind="nest_site",
            name=f"Façades {code}",
            latitude=LOOS[0],
            longitude=LOOS[1],
            code=f"T-{code}-{uuid.uuid4().hex[:6]}",
        )
        session.add(site)
        session.flush()
        sites[code] = site
        for year, occupied in zip(YEARS, counts, strict=True):
            if occupied is None:
                continue
            visit = Visit(
                client_id=uuid.uuid4(),
                site_id=site.id,
                observer_id=owner.id,
                started_at=datetime(year, 6, 10, 8, tzinfo=UTC),
                duration_min=30,
                complete=True,
                status="validated",
            )
            session.add(visit)
            session.flush()
            session.add(VisitCount(visit_id=visit.id, species_id=martin.id, occupied=occupied))
    session.flush()
    return sites


@pytest.fixture
def facades(session: Session, settings: Settings) -> dict[str, Site]:
    load_reference_data(session)
    return _facades(session, settings, create_user(session, settings))


def test_a_declining_species(client: TestClient, facades: dict[str, Site]) -> None:
    answer = client.get(f"/stats/trends?cd_nom={HOUSE_MARTIN}")
    assert answer.status_code == 200, answer.text
    trend = answer.json()
    assert (trend["model"], trend["sites"], trend["base_year"]) == (3, 4, 2021)
    assert [p["year"] for p in trend["indices"]] == YEARS
    indices = [p["imputed"] for p in trend["indices"]]
    assert indices[0] == 1.0
    assert all(later < earlier for earlier, later in itertools.pairwise(indices))
    # The observed totals of complete years: 66 nests in 2021, 26 in 2025.
    assert trend["indices"][-1]["model"] == pytest.approx(26 / 66, rel=0.02)
    slope = trend["slope"]["imputed"]
    assert slope["mul"] == pytest.approx(0.79, abs=0.03)
    assert slope["class"] == "steep decline"
    assert set(trend) >= {"sigma2", "rho", "chi2", "lr", "df", "aic", "totals", "indices", "slope"}


def test_model_2_and_a_base_year(client: TestClient, facades: dict[str, Site]) -> None:
    answer = client.get(f"/stats/trends?cd_nom={HOUSE_MARTIN}&model=2&base_year=2023")
    assert answer.status_code == 200, answer.text
    trend = answer.json()
    assert trend["model"] == 2 and trend["base_year"] == 2023
    (base,) = [p for p in trend["indices"] if p["year"] == 2023]
    assert base["model"] == pytest.approx(1.0)
    bad = client.get(f"/stats/trends?cd_nom={HOUSE_MARTIN}&base_year=2010")
    assert bad.status_code == 422 and bad.json()["code"] == "trim.bad_base_year"


def test_baselines_tied_to_sites_open_the_series(
    client: TestClient, session: Session, facades: dict[str, Site]
) -> None:
    header = "year,cd_nom,zone_code,site_code,count,unit,method,source\n"
    rows = "".join(
        f"2019,{HOUSE_MARTIN},,{site.code},{SERIES[code][0] + 5},nests,,\n"
        for code, site in facades.items()
    )
    import_baselines(session, header + rows)
    # 2019 from the inventory, then no count anywhere in 2020: model 3 cannot give that year
    # an index and says so, suggesting model 2, whose linear trend bridges the gap.
    refused = client.get(f"/stats/trends?cd_nom={HOUSE_MARTIN}")
    assert refused.status_code == 422
    assert refused.json()["code"] == "trim.not_estimable"
    assert "model 2" in refused.json()["detail"]
    model2 = client.get(f"/stats/trends?cd_nom={HOUSE_MARTIN}&model=2")
    assert model2.status_code == 200, model2.text
    assert model2.json()["base_year"] == 2019
    assert model2.json()["indices"][0]["year"] == 2019


def test_no_series_is_a_clear_422(client: TestClient, session: Session) -> None:
    load_reference_data(session)
    answer = client.get(f"/stats/trends?cd_nom={PEACOCK}")
    assert answer.status_code == 422
    assert answer.json()["code"] == "trim.no_sites"
    assert "no survey site" in answer.json()["detail"]
    assert client.get("/stats/trends").json()["code"] == "stats.species_required"
    assert client.get(f"/stats/trends?cd_nom={PEACOCK}&model=4").status_code == 422
    assert client.get(f"/stats/trends?cd_nom={PEACOCK}&changepoints=a,b").status_code == 422


def test_the_charts_are_french_pictures(client: TestClient, facades: dict[str, Site]) -> None:
    svg = client.get(f"/stats/trends.svg?cd_nom={HOUSE_MARTIN}")
    assert svg.status_code == 200
    assert svg.headers["content-type"] == "image/svg+xml"
    text = svg.text
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    png = client.get(f"/stats/trends.png?cd_nom={HOUSE_MARTIN}")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    comparison = client.get("/stats/comparison.svg?year=2025")
    assert comparison.status_code == 200
    assert comparison.headers["content-type"] == "image/svg+xml"
    assert client.get(f"/stats/trends.svg?cd_nom={PEACOCK}").status_code == 422


def test_the_comparison_follows_the_trend_where_there_is_one(
    client: TestClient, session: Session, facades: dict[str, Site]
) -> None:
    # Against a baseline of 30 nests, 2025's 26 (−13 %) alone would say "stable"; the sites'
    # trend says decline, and decides.
    header = "year,cd_nom,zone_code,site_code,count,unit,method,source\n"
    import_baselines(session, header + f"2021,{HOUSE_MARTIN},,,30,nests,,\n")
    (martin,) = [
        item
        for item in client.get("/stats/comparison?year=2025").json()["items"]
        if item["cd_nom"] == HOUSE_MARTIN
    ]
    assert martin["count"] == 26.0  # the 2025 façades: 8 + 4 + 12 + 2
    assert martin["trend_class"] == "steep decline"
    assert martin["status"] == "decline"


def test_the_comparison_sees_new_visits_at_once(
    client: TestClient, session: Session, settings: Settings, facades: dict[str, Site]
) -> None:
    # The fitted classes are kept between requests; a change in the survey data refits them.
    header = "year,cd_nom,zone_code,site_code,count,unit,method,source\n"
    import_baselines(session, header + f"2021,{HOUSE_MARTIN},,,30,nests,,\n")

    def martin() -> dict[str, object]:
        items = client.get("/stats/comparison?year=2025").json()["items"]
        (item,) = [i for i in items if i["cd_nom"] == HOUSE_MARTIN]
        return item

    assert martin()["trend_class"] == "steep decline"
    assert martin()["trend_class"] == "steep decline"  # from the kept fit
    species = session.exec(select(Species).where(col(Species.cd_nom) == HOUSE_MARTIN)).one()
    for site in facades.values():
        for year in (2024, 2025):
            visit = Visit(
                client_id=uuid.uuid4(),
                site_id=site.id,
                observer_id=site.owner_id,
                started_at=datetime(year, 7, 1, 8, tzinfo=UTC),
                duration_min=30,
                complete=True,
                status="validated",
            )
            session.add(visit)
            session.flush()
            session.add(VisitCount(visit_id=visit.id, species_id=species.id, occupied=200))
    session.flush()

    after = martin()
    assert after["count"] == 800.0  # four façades at 200 nests
    assert after["trend_class"] in {"strong increase", "moderate increase"}
    assert after["status"] == "increase"
