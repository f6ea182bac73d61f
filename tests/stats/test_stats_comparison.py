"""``GET /stats/comparison`` on hand-built data: units compared like with like, the latest
baseline up to the year, each status, and synonyms by ``cd_ref``."""

from __future__ import annotations

import re
import uuid
from typing import Any
from xml.etree import ElementTree

from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import update
from sqlmodel import Session, col

from app.baselines.service import import_baselines
from app.core.settings import Settings
from app.core.vocabulary import Role
from app.observations.models import Observation
from app.stats.comparison import DECLINE_FROM, INCREASE_FROM, status_of
from app.surveys.models import Visit
from tests.factories import auth_headers, create_user, load_reference_data

LOOS = (50.4571, 2.7852)
HOUSE_MARTIN, SWALLOW, SWIFT, TOAD, PEACOCK, VULCAIN = 459478, 3696, 3551, 259, 608364, 53741
HEADER = "year,cd_nom,zone_code,site_code,count,unit,method,source\n"


def _observe(
    client: TestClient, headers: dict[str, str], cd_nom: int, count: int, unit: str = "individuals"
) -> str:
    body = {
        "client_id": str(uuid.uuid4()),
        "cd_nom": cd_nom,
        "observed_at": "2026-05-10T10:00:00+02:00",
        "latitude": LOOS[0],
        "longitude": LOOS[1],
        "count": count,
        "count_unit": unit,
    }
    answer = client.post("/observations", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def _by_cd_nom(items: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {item["cd_nom"]: item for item in items}


def test_each_status_on_hand_built_data(
    client: TestClient, session: Session, settings: Settings
) -> None:
    load_reference_data(session)
    import_baselines(
        session,
        HEADER
        + f"2008,{HOUSE_MARTIN},,,10,nests,,\n"
        + f"2010,{HOUSE_MARTIN},,,20,nests,,\n"  # the latest up to 2026 wins
        + f"2030,{HOUSE_MARTIN},,,99,nests,,\n"  # after the year: ignored
        + f"2010,{SWALLOW},,,10,individuals,,\n"
        + f"2010,{SWIFT},,,10,individuals,,\n"
        + f"2010,{TOAD},,,1,presence,,\n",
    )
    observer = create_user(session, settings)
    headers = auth_headers(observer, settings)
    ids = [
        _observe(client, headers, HOUSE_MARTIN, 12, "nests"),  # 12 nests vs 20: −40 %
        _observe(client, headers, HOUSE_MARTIN, 40),  # individuals: not compared with nests
        _observe(client, headers, SWALLOW, 11),  # 11 vs 10: +10 %, stable
        _observe(client, headers, PEACOCK, 3),  # no baseline: new
    ]
    _observe(client, headers, SWIFT, 50)  # pending: does not count, so not seen
    session.execute(
        update(Observation)
        .where(col(Observation.id).in_([uuid.UUID(i) for i in ids]))
        .values(status="validated")
    )
    session.flush()

    answer = client.get("/stats/comparison?year=2026")
    assert answer.status_code == 200, answer.text
    assert answer.json()["year"] == 2026
    items = _by_cd_nom(answer.json()["items"])
    martin = items[HOUSE_MARTIN]
    assert (martin["baseline_year"], martin["baseline_count"], martin["baseline_unit"]) == (
        2010,
        20.0,
        "nests",
    )
    assert (martin["count"], martin["change"], martin["change_pct"], martin["status"]) == (
        12.0,
        -8.0,
        -40.0,
        "decline",
    )
    assert martin["vernacular_name"] == "Hirondelle de fenêtre"
    assert (items[SWALLOW]["count"], items[SWALLOW]["status"]) == (11.0, "stable")
    assert (items[PEACOCK]["status"], items[PEACOCK]["baseline_year"]) == ("new", None)
    assert (items[SWIFT]["status"], items[SWIFT]["count"]) == ("not_seen", 0.0)
    # Nothing validated that year: nothing to compare, not a −100 % change.
    assert (items[SWIFT]["change_pct"], items[SWIFT]["compared_figure"]) == (None, "none")
    assert items[SWIFT]["reported"] is False
    assert (items[TOAD]["status"], items[TOAD]["unit"]) == ("not_seen", "presence")
    assert (martin["compared_figure"], martin["source"]) == ("observed_nests", "observations")
    assert items[SWALLOW]["compared_figure"] == "observed_individuals"


def test_protocol_counts_are_preferred_for_their_unit(
    client: TestClient, session: Session, settings: Settings
) -> None:
    load_reference_data(session)
    import_baselines(session, HEADER + f"2010,{HOUSE_MARTIN},,,5,nests,,\n")
    owner = create_user(session, settings)
    headers = auth_headers(owner, settings)
    site = client.post(
        "/sites",
        json={
            "client_id": str(uuid.uuid4()),
            "kind": "nest_site",
            "name": "Façades",
            "latitude": LOOS[0],
            "longitude": LOOS[1],
        },
        headers=headers,
    ).json()
    visit_ids = []
    for month, occupied in ((5, 4), (6, 7)):
        visit = client.post(
            f"/sites/{site['id']}/visits",
            json={
                "client_id": str(uuid.uuid4()),
                "started_at": f"2026-{month:02d}-10T10:00:00+02:00",
                "duration_min": 30,
                "counts": [{"cd_nom": HOUSE_MARTIN, "occupied": occupied}],
            },
            headers=headers,
        ).json()
        visit_ids.append(uuid.UUID(visit["id"]))
    session.execute(update(Visit).where(col(Visit.id).in_(visit_ids)).values(status="validated"))
    session.flush()

    (martin,) = [
        i
        for i in client.get("/stats/comparison?year=2026").json()["items"]
        if i["cd_nom"] == HOUSE_MARTIN
    ]
    # The façade's yearly value is the largest count, 7 nests: +40 % against 5.
    assert (martin["count"], martin["source"], martin["status"]) == (7.0, "protocol", "increase")


def test_zone_comparison_and_sensitive_species(
    client: TestClient, session: Session, settings: Settings
) -> None:
    load_reference_data(session)
    ecologist = create_user(session, settings, role=Role.ecologist)
    zones = client.get("/zones").json()["features"]
    loos = next(z for z in zones if z["properties"]["code"] == "62528")["properties"]["id"]
    import_baselines(session, HEADER + f"2010,{VULCAIN},62528,,4,individuals,,\n")
    items = client.get(f"/stats/comparison?year=2026&zone_id={loos}").json()["items"]
    assert [(i["cd_nom"], i["status"]) for i in items] == [(VULCAIN, "not_seen")]
    # The territory's baselines are not the zone's.
    assert VULCAIN not in _by_cd_nom(client.get("/stats/comparison?year=2026").json()["items"])
    staff = client.get(
        f"/stats/comparison?year=2026&zone_id={loos}", headers=auth_headers(ecologist, settings)
    )
    assert staff.status_code == 200


def test_bad_requests(client: TestClient) -> None:
    assert client.get("/stats/comparison?year=1800").status_code == 422
    assert client.get("/stats/comparison?zone_id=nope").status_code == 422


@given(
    baseline=st.floats(min_value=0.5, max_value=1e6),
    ratio=st.floats(min_value=0.0, max_value=10.0),
)
def test_the_thresholds(baseline: float, ratio: float) -> None:
    count = baseline * ratio
    status = status_of(baseline, count, seen=count > 0)
    change = (count - baseline) / baseline
    if count == 0:
        assert status == "not_seen"
    elif change >= INCREASE_FROM + 1e-9:
        assert status == "increase"
    elif change <= DECLINE_FROM - 1e-9:
        assert status == "decline"
    elif DECLINE_FROM + 1e-9 < change < INCREASE_FROM - 1e-9:
        assert status == "stable"
    # A trend's class, when there is one, decides.
    assert status_of(baseline, count, seen=True, trend_class="steep decline") == "decline"
    assert status_of(None, count, seen=True) == "new"


def _site(client: TestClient, headers: dict[str, str], kind: str) -> str:
    answer = client.post(
        "/sites",
        json={
            "client_id": str(uuid.uuid4()),
            "kind": kind,
            "name": f"Site {kind}",
            "latitude": LOOS[0],
            "longitude": LOOS[1],
        },
        headers=headers,
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def _visit(client: TestClient, headers: dict[str, str], site_id: str, counts: list[Any]) -> str:
    answer = client.post(
        f"/sites/{site_id}/visits",
        json={
            "client_id": str(uuid.uuid4()),
            "started_at": "2026-06-10T10:00:00+02:00",
            "duration_min": 30,
            "counts": counts,
        },
        headers=headers,
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def test_like_with_like_the_baselines_unit_decides_the_figure(
    client: TestClient, session: Session, settings: Settings
) -> None:
    """Every figure in the same year for the same species (swallows: 558 individuals and 90
    nests in casual sightings, 31 nests at a farm, 12 in a garden): each baseline unit gets
    its own figure, and a unit nobody counted in is not compared."""
    load_reference_data(session)
    zones = client.get("/zones").json()["features"]
    loos = next(z for z in zones if z["properties"]["code"] == "62528")["properties"]["id"]
    import_baselines(
        session,
        HEADER
        + f"2010,{SWALLOW},,,40,nests,,\n"  # territory: nests
        + f"2010,{SWALLOW},62528,,10,individuals,,\n"  # Loos: individuals
        + f"2010,{HOUSE_MARTIN},,,100,nests,,\n"  # casual nests only
        + f"2010,{SWIFT},,,300,individuals,,\n"  # casual individuals only
        + f"2010,{TOAD},,,5,nests,,\n"  # seen, but not in nests
        + f"2010,{VULCAIN},,,1,presence,,\n",
    )
    observer = create_user(session, settings)
    headers = auth_headers(observer, settings)
    ids = [
        _observe(client, headers, SWALLOW, 500),
        _observe(client, headers, SWALLOW, 58),
        _observe(client, headers, SWALLOW, 60, "nests"),
        _observe(client, headers, SWALLOW, 30, "nests"),
        _observe(client, headers, HOUSE_MARTIN, 45, "nests"),
        _observe(client, headers, HOUSE_MARTIN, 200),  # individuals: not for a nests baseline
        _observe(client, headers, SWIFT, 120),
        _observe(client, headers, SWIFT, 150),
        _observe(client, headers, SWIFT, 7, "nests"),  # nests: not for an individuals baseline
        _observe(client, headers, TOAD, 3),
    ]
    session.execute(
        update(Observation)
        .where(col(Observation.id).in_([uuid.UUID(i) for i in ids]))
        .values(status="validated")
    )
    farm, garden = _site(client, headers, "nest_site"), _site(client, headers, "garden")
    visits = [
        _visit(client, headers, farm, [{"cd_nom": SWALLOW, "occupied": 31}]),
        _visit(client, headers, garden, [{"cd_nom": SWALLOW, "count": 12}]),
    ]
    session.execute(
        update(Visit)
        .where(col(Visit.id).in_([uuid.UUID(v) for v in visits]))
        .values(status="validated")
    )
    session.flush()

    items = _by_cd_nom(client.get("/stats/comparison?year=2026").json()["items"])

    def figures(cd_nom: int) -> tuple[Any, ...]:
        i = items[cd_nom]
        return (i["unit"], i["compared_figure"], i["count"], i["change_pct"], i["status"])

    # Nests against the farm's nests (31 vs 40), not 558 + 90 nor the 12 in the garden.
    assert figures(SWALLOW) == ("nests", "protocol_nests", 31.0, -22.5, "decline")
    assert figures(HOUSE_MARTIN) == ("nests", "observed_nests", 45.0, -55.0, "decline")
    # Individuals: the largest casual count, 150 (not 270, not the 7 nests).
    assert figures(SWIFT) == ("individuals", "observed_individuals", 150.0, -50.0, "decline")
    # Seen as individuals only: no nest count to compare with the nests baseline.
    assert figures(TOAD) == ("nests", "none", 0.0, None, "not_seen")
    assert items[TOAD]["reported"] is True and items[TOAD]["change"] is None
    assert figures(VULCAIN) == ("presence", "none", 0.0, None, "not_seen")
    assert items[VULCAIN]["reported"] is False

    # In Loos, the individuals baseline meets the garden's individuals (12 vs 10).
    local = _by_cd_nom(client.get(f"/stats/comparison?year=2026&zone_id={loos}").json()["items"])
    swallow = local[SWALLOW]
    assert (swallow["unit"], swallow["compared_figure"], swallow["count"]) == (
        "individuals",
        "protocol_individuals",
        12.0,
    )
    assert (swallow["change_pct"], swallow["source"], swallow["status"]) == (
        20.0,
        "protocol",
        "increase",
    )


def test_a_species_seen_only_in_nests_without_baseline_is_new(
    client: TestClient, session: Session, settings: Settings
) -> None:
    load_reference_data(session)
    headers = auth_headers(create_user(session, settings), settings)
    ids = [_observe(client, headers, HOUSE_MARTIN, 8, "nests")]
    session.execute(
        update(Observation)
        .where(col(Observation.id).in_([uuid.UUID(i) for i in ids]))
        .values(status="validated")
    )
    session.flush()
    (item,) = client.get("/stats/comparison?year=2026").json()["items"]
    assert (item["unit"], item["compared_figure"], item["count"], item["status"]) == (
        "nests",
        "observed_nests",
        8.0,
        "new",
    )


def _svg_texts(svg: str) -> list[str]:
    """The texts of a matplotlib SVG: its glyphs are paths (``svg.fonttype`` ``path``, the
    default, kept so the chart looks the same on every screen), each text preceded by a
    comment holding it."""
    parser = ElementTree.XMLParser(target=ElementTree.TreeBuilder(insert_comments=True))
    root = ElementTree.fromstring(svg.encode(), parser=parser)
    return [
        str(node.text).strip()
        for node in root.iter()
        if node.tag is ElementTree.Comment and node.text
    ]


def test_the_chart_writes_french_numbers_a_legend_and_the_species_not_reported(
    client: TestClient, session: Session, settings: Settings
) -> None:
    load_reference_data(session)
    import_baselines(
        session,
        HEADER
        + f"2010,{HOUSE_MARTIN},,,1000,nests,,\n"
        + f"2010,{SWALLOW},,,10,individuals,,\n"
        + f"2010,{SWIFT},,,10,individuals,,\n",
    )
    headers = auth_headers(create_user(session, settings), settings)
    ids = [
        _observe(client, headers, HOUSE_MARTIN, 911, "nests"),  # −8,9 %
        _observe(client, headers, SWALLOW, 15),  # +50 %
    ]
    session.execute(
        update(Observation)
        .where(col(Observation.id).in_([uuid.UUID(i) for i in ids]))
        .values(status="validated")
    )
    session.flush()
    answer = client.get("/stats/comparison.svg?year=2026")
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/svg+xml"
    texts = _svg_texts(answer.text)
    assert "−8,9\u00a0%" in texts and "+50\u00a0%" in texts
    # The swift (a baseline, nothing validated in 2026): words, not a −100 % bar.
    assert "non revue cette année" in texts
    assert not any("100" in t for t in texts if "%" in t)
    assert not any(re.search(r"-\d", t) for t in texts)  # a minus sign, never a hyphen
    # The legend names the colours drawn.
    assert {"en hausse", "stable"} <= set(texts)
    # The axis' numbers too: a minus sign.
    assert any(t.startswith("−") and t[1:].isdigit() for t in texts)
