"""The trend's label over HTTP: ``convention``, too few data, and σ² below 1 (app.stats.labels).

A town's survey is short: four façades over six seasons. There TRIM's σ² often comes out far
below 1, which would shrink the standard errors and overstate the verdict; the label counts it
as 1 and says so, and a series too short for any verdict says that instead of one.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from app.baselines.service import import_baselines
from app.core.settings import Settings
from app.species.models import Species
from app.surveys.models import Site, Visit, VisitCount
from tests.factories import create_user, load_reference_data

HOUSE_MARTIN = 459478
LOOS = (50.4571, 2.7852)
YEARS = list(range(2021, 2027))
# Occupied nests: about −9 % a year, as regular as nest counts are on few façades (σ² ≪ 1).
SHORT_SERIES = {
    "A": [22, 19, 18, 16, 14, 14],
    "B": [12, 11, 10, 8, None, 7],
    "C": [30, 27, 25, 21, 20, 19],
    "D": [8, 7, 7, 5, 5, 5],
}
TWO_SITES = {"A": [5, 4, 4, 3, 3, 3], "B": [8, 7, 6, 6, 5, 5]}


def _survey(session: Session, settings: Settings, series: dict[str, list[int | None]]) -> None:
    load_reference_data(session)
    owner = create_user(session, settings)
    martin = session.exec(select(Species).where(col(Species.cd_nom) == HOUSE_MARTIN)).one()
    for code, counts in series.items():
        site = Site(
            client_id=uuid.uuid4(),
            owner_id=owner.id,
            kind="nest_site",
            name=f"Façades {code}",
            latitude=LOOS[0],
            longitude=LOOS[1],
            code=f"L-{code}-{uuid.uuid4().hex[:6]}",
        )
        session.add(site)
        session.flush()
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


def test_sigma2_below_1_is_taken_as_1_for_the_label(
    client: TestClient, session: Session, settings: Settings
) -> None:
    _survey(session, settings, SHORT_SERIES)
    trend = client.get(f"/stats/trends?cd_nom={HOUSE_MARTIN}").json()
    assert trend["sigma2"] < 1
    slope = trend["slope"]["imputed"]
    # The fitted model's figures as TRIM reports them (their narrow interval would say
    # "steep"); the class is the label's, with σ² taken as 1.
    assert (
        slope["mul"] - 1.96 * slope["mul_se"] < 1 and slope["mul"] + 1.96 * slope["mul_se"] < 0.95
    )
    assert slope["class"] == "moderate decline"
    assert slope["mul"] == pytest.approx(0.906, abs=0.01)
    label = slope["label"]
    assert label["text"] == "moderate decline (p<0.01)"
    assert (label["class"], label["significance"]) == ("moderate decline", "p<0.01")
    assert label["convention"] == "pecbms" and label["sigma2_floored"] is True
    assert 0 < label["p"] < 0.01
    interval = label["interval"]
    assert interval["level"] == 0.95 and interval["lower"] < 0.95 < interval["upper"] < 1
    assert any("below 1" in w and "σ² = 1" in w for w in trend["warnings"])
    assert trend["slope"]["model"]["label"]["convention"] == "pecbms"


def test_the_rtrim_convention(client: TestClient, session: Session, settings: Settings) -> None:
    _survey(session, settings, SHORT_SERIES)
    answer = client.get(f"/stats/trends?cd_nom={HOUSE_MARTIN}&convention=rtrim")
    assert answer.status_code == 200, answer.text
    label = answer.json()["slope"]["imputed"]["label"]
    # t on 6 − 2 = 4 degrees of freedom (2.78 at 95 %, 4.60 at 99 %): only p<0.05 here.
    assert label["convention"] == "rtrim"
    assert label["text"] == "moderate decline (p<0.05)"
    assert 0.01 < label["p"] < 0.05
    assert label["interval"]["upper"] < 1
    bad = client.get(f"/stats/trends?cd_nom={HOUSE_MARTIN}&convention=trim2")
    assert bad.status_code == 422


def test_the_comparison_reads_the_label(
    client: TestClient, session: Session, settings: Settings
) -> None:
    _survey(session, settings, SHORT_SERIES)
    header = "year,cd_nom,zone_code,site_code,count,unit,method,source\n"
    import_baselines(session, header + f"2021,{HOUSE_MARTIN},,,70,nests,,\n")
    items = client.get("/stats/comparison?year=2026").json()["items"]
    (martin,) = [i for i in items if i["cd_nom"] == HOUSE_MARTIN]
    assert martin["trend_class"] == "moderate decline"  # not the fitted "steep decline"
    assert martin["status"] == "decline"


def test_too_few_sites_give_no_verdict(
    client: TestClient, session: Session, settings: Settings
) -> None:
    _survey(session, settings, TWO_SITES)
    answer = client.get(f"/stats/trends?cd_nom={HOUSE_MARTIN}")
    assert answer.status_code == 200, answer.text
    trend = answer.json()
    label = trend["slope"]["imputed"]["label"]
    assert label["class"] == "insufficient data" and label["text"] == "insufficient data"
    assert label["significance"] is None and label["p"] is None and label["interval"] is None
    assert label["thresholds"] == {"sites": 3, "years": 5, "positive_counts": 10}
    assert "2 site(s) with a positive count (at least 3)" in label["reason"]
    assert any(w.startswith("no trend label: too few data") for w in trend["warnings"])

    svg = client.get(f"/stats/trends.svg?cd_nom={HOUSE_MARTIN}")
    assert svg.status_code == 200
    assert "données insuffisantes pour une tendance" in svg.text

    # The comparison does not take a class from it: the baseline's thresholds decide.
    header = "year,cd_nom,zone_code,site_code,count,unit,method,source\n"
    import_baselines(session, header + f"2021,{HOUSE_MARTIN},,,13,nests,,\n")
    items = client.get("/stats/comparison?year=2026").json()["items"]
    (martin,) = [i for i in items if i["cd_nom"] == HOUSE_MARTIN]
    assert martin["trend_class"] is None
    assert martin["status"] == "decline"  # 8 nests against 13: −38 %


def test_the_chart_writes_french_numbers(
    client: TestClient, session: Session, settings: Settings
) -> None:
    _survey(session, settings, SHORT_SERIES)
    svg = client.get(f"/stats/trends.svg?cd_nom={HOUSE_MARTIN}").text
    assert "tendance : déclin modéré (p&lt;0,01)" in svg
    assert "\u22129,4\u00a0% par an" in svg
    assert "IC 95 %" in svg
    assert "1,00" in svg  # the index axis, decimal comma
