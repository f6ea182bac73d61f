"""A class's summary: what it saw this year and last year, as figures, a French page and a chart.

The expectations are worked out by hand. The territory's time is Europe/Paris (UTC+1 in winter,
UTC+2 from the last Sunday of March), so 31 December 2025 at 23:30 UTC is already 1 January
2026 there: that observation belongs to 2026.
"""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlmodel import Session

from app.accounts.models import User
from app.classes.models import SchoolClass
from app.classwork.summary import class_summary, french_date, summary_html, summary_svg
from app.core.settings import Settings
from app.observations.models import Observation
from app.species.models import Species
from app.surveys.models import Site, Visit
from tests.factories import (
    auth_headers,
    create_class,
    create_observation,
    create_site,
    create_user,
    create_visit,
    species_by_cd_nom,
)

LOOS = (50.4571, 2.7852)
SWALLOW = 3696  # Hirondelle rustique
HOUSE_MARTIN = 459478  # Hirondelle de fenêtre
SWIFT = 3551  # Martinet noir
PEREGRINE = 2938  # Faucon pèlerin
RED_ADMIRAL = 53741  # Vulcain
COMMON_BLUE = 54279  # Azuré de la Bugrane
TOAD = 259  # Crapaud commun
SWALLOW_SYNONYM = 99_000_001  # a later name of the swallow, made up for these tests
CRAG_MARTIN = 99_000_002  # in Hirundinidae, not among the shipped species

# --- helpers ---------------------------------------------------------------------------------


def species(session: Session, cd_nom: int) -> Species:
    return species_by_cd_nom(session, cd_nom)


def add_species(
    session: Session, cd_nom: int, cd_ref: int, scientific: str, *, family: str | None = None
) -> Species:
    taxon = Species(
        cd_nom=cd_nom,
        cd_ref=cd_ref,
        scientific_name=scientific,
        group="bird",
        family=family,
        search_text=scientific.lower(),
    )
    session.add(taxon)
    session.flush()
    return taxon


def make_class(
    session: Session, settings: Settings, *, name: str = "CM1 B", school: str = "École Basly"
) -> tuple[SchoolClass, User]:
    school_class = create_class(session, settings, name=name, school=school)
    teacher = session.get(User, school_class.teacher_id)
    assert teacher is not None
    return school_class, teacher


def observe(
    session: Session,
    observer_id: uuid.UUID,
    when: str,
    cd_nom: int,
    *,
    count: int = 1,
    status: str = "pending",
    deleted: bool = False,
) -> Observation:
    return create_observation(
        session,
        observer=observer_id,
        cd_nom=cd_nom,
        observed_at=when,
        at=LOOS,
        count=count,
        status=status,
        deleted=deleted,
    )


def make_site(session: Session, school_class: SchoolClass) -> Site:
    return create_site(
        session,
        owner=school_class.account_id,
        class_id=school_class.id,
        name="Façade de l'école",
        at=LOOS,
    )


def visit(
    session: Session,
    site: Site,
    when: str,
    counts: list[dict[str, Any]],
    *,
    status: str = "pending",
) -> Visit:
    """``counts``: each row's ``cd_nom`` and figures (``count``, ``occupied``, ``artificial``)."""
    return create_visit(session, site=site, started_at=when, counts=counts, status=status)


def seen(summary_year: Any) -> list[tuple[int, str | None, int, int, date]]:
    return [
        (s.cd_nom, s.vernacular_name, s.observations, s.count, s.first_date)
        for s in summary_year.species
    ]


def text_of(page: str) -> str:
    """The page's words as a reader sees them: no tags, single spaces."""
    page = re.sub(r"<svg.*?</svg>", " ", page, flags=re.S)
    page = re.sub(r"</?(?:time|small|i)\b[^>]*>", "", page)
    return " ".join(re.sub(r"<[^>]+>", " ", page).split())


@pytest.fixture
def two_years(session: Session, settings: Settings) -> tuple[SchoolClass, User]:
    """The class's 2025 and 2026, with what must be left out beside what must count."""
    school_class, teacher = make_class(session, settings)
    account = school_class.account_id
    add_species(session, SWALLOW_SYNONYM, SWALLOW, "Hirundo rustica rustica")

    # 2025: the swallow (back on 18 April) and a red admiral.
    observe(session, account, "2025-04-18T10:00:00+02:00", SWALLOW, count=2, status="validated")
    observe(session, account, "2025-08-02T15:00:00+02:00", RED_ADMIRAL, count=3)

    # 2026. 23:30 UTC on 31 December 2025 is 00:30 on 1 January 2026 in Paris.
    observe(session, account, "2025-12-31T23:30:00+00:00", PEREGRINE)
    observe(session, account, "2026-04-14T09:00:00+02:00", SWALLOW, count=3)  # pending counts
    observe(
        session, account, "2026-05-02T09:00:00+02:00", SWALLOW_SYNONYM, count=4, status="validated"
    )
    observe(session, account, "2026-05-03T11:00:00+02:00", SWIFT, count=6, status="needs_info")
    observe(session, account, "2026-05-03T14:00:00+02:00", COMMON_BLUE, count=1)
    # Left out: rejected, deleted (each would make the swallows' return earlier).
    observe(session, account, "2026-03-20T10:00:00+01:00", HOUSE_MARTIN, status="rejected")
    observe(session, account, "2026-04-01T10:00:00+02:00", SWALLOW, count=50, deleted=True)
    # Left out: someone else's red admiral.
    stranger = create_user(session, settings)
    observe(session, stranger.id, "2026-04-20T10:00:00+02:00", RED_ADMIRAL, count=9)

    site = make_site(session, school_class)
    # One visit, two rows of swallow nests (natural, nest boxes): one visit, 5 + 2 nests. The
    # house martin's row has no nest occupied: not seen.
    visit(
        session,
        site,
        "2026-06-10T08:00:00+02:00",
        [
            {"cd_nom": SWALLOW, "occupied": 5, "unoccupied": 1},
            {"cd_nom": SWALLOW, "occupied": 2, "artificial": True},
            {"cd_nom": HOUSE_MARTIN, "occupied": 0, "unoccupied": 3},
        ],
    )
    # Left out: a rejected visit.
    visit(
        session,
        site,
        "2026-03-01T10:00:00+01:00",
        [{"cd_nom": TOAD, "count": 10}],
        status="rejected",
    )
    return school_class, teacher


# --- the figures -----------------------------------------------------------------------------


def test_two_years_of_a_class_give_each_species_counts_and_first_date(
    session: Session, settings: Settings, two_years: tuple[SchoolClass, User]
) -> None:
    school_class, _ = two_years

    result = class_summary(session, settings, school_class, 2026)

    assert (result.class_id, result.name, result.school, result.year) == (
        school_class.id,
        "CM1 B",
        "École Basly",
        2026,
    )
    assert result.this_year.year == 2026
    # By first date, then French name (Azuré before Martinet on 3 May).
    assert seen(result.this_year) == [
        (PEREGRINE, "Faucon pèlerin", 1, 1, date(2026, 1, 1)),
        # two observations (one under the synonym) and one visit: 3 + 4 + 5 + 2
        (SWALLOW, "Hirondelle rustique", 3, 14, date(2026, 4, 14)),
        (COMMON_BLUE, "Azuré de la Bugrane", 1, 1, date(2026, 5, 3)),
        (SWIFT, "Martinet noir", 1, 6, date(2026, 5, 3)),
    ]
    assert result.this_year.observations == 6
    assert result.this_year.swallows_return == date(2026, 4, 14)
    swallow = result.this_year.species[1]
    assert swallow.species_id == species(session, SWALLOW).id
    assert swallow.scientific_name == "Hirundo rustica"

    assert result.last_year.year == 2025
    assert seen(result.last_year) == [
        (SWALLOW, "Hirondelle rustique", 1, 2, date(2025, 4, 18)),
        (RED_ADMIRAL, "Vulcain", 1, 3, date(2025, 8, 2)),
    ]
    assert result.last_year.observations == 2
    assert result.last_year.swallows_return == date(2025, 4, 18)


def test_the_year_before_is_the_previous_years_summary(
    session: Session, settings: Settings, two_years: tuple[SchoolClass, User]
) -> None:
    school_class, _ = two_years

    earlier = class_summary(session, settings, school_class, 2025)

    assert earlier.this_year == class_summary(session, settings, school_class, 2026).last_year
    assert earlier.last_year.species == []
    assert earlier.last_year.swallows_return is None


def test_the_summary_takes_two_statements_a_year_whatever_the_species(
    session: Session, settings: Settings, two_years: tuple[SchoolClass, User]
) -> None:
    school_class, _ = two_years
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    connection = session.connection()
    event.listen(connection, "before_cursor_execute", record)
    try:
        class_summary(session, settings, school_class, 2026)
    finally:
        event.remove(connection, "before_cursor_execute", record)

    assert 1 <= len(statements) <= 4


def test_a_hirundine_named_by_its_family_marks_the_swallows_return(
    session: Session, settings: Settings
) -> None:
    school_class, _ = make_class(session, settings)
    add_species(session, CRAG_MARTIN, CRAG_MARTIN, "Ptyonoprogne rupestris", family="Hirundinidae")
    observe(session, school_class.account_id, "2026-03-28T10:00:00+01:00", CRAG_MARTIN)
    observe(session, school_class.account_id, "2026-04-14T10:00:00+02:00", SWALLOW)
    # Earlier still, but not a swallow.
    observe(session, school_class.account_id, "2026-02-02T10:00:00+01:00", PEREGRINE)

    result = class_summary(session, settings, school_class, 2026)

    assert result.this_year.swallows_return == date(2026, 3, 28)
    # A taxon without a French name is shown by its scientific name.
    assert [s.scientific_name for s in result.this_year.species] == [
        "Falco peregrinus",
        "Ptyonoprogne rupestris",
        "Hirundo rustica",
    ]


def test_a_class_that_saw_nothing_has_empty_years(session: Session, settings: Settings) -> None:
    school_class, _ = make_class(session, settings)

    result = class_summary(session, settings, school_class, 2026)

    assert result.this_year.species == [] and result.this_year.observations == 0
    assert result.this_year.swallows_return is None
    assert result.last_year.species == []


# --- the page and the chart ------------------------------------------------------------------


def test_french_dates_need_no_french_locale() -> None:
    assert french_date(date(2026, 4, 12)) == "12 avril 2026"
    assert french_date(date(2026, 1, 1)) == "1er janvier 2026"
    assert french_date(date(2026, 8, 14), with_year=False) == "14 août"


@pytest.fixture
def summary_of_a_hostile_name(
    session: Session, settings: Settings, two_years: tuple[SchoolClass, User]
) -> Any:
    school_class, _ = two_years
    school_class.name = "<script>alert('CM1')</script>"
    school_class.school = "École Basly & Jaurès"
    return class_summary(session, settings, school_class, 2026)


def test_the_page_is_french_self_contained_and_escaped(summary_of_a_hostile_name: Any) -> None:
    page = summary_html(summary_of_a_hostile_name)

    assert page.startswith("<!DOCTYPE html>")
    assert '<html lang="fr">' in page
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(&#x27;CM1&#x27;)&lt;/script&gt;" in page
    assert "École Basly &amp; Jaurès" in page
    # Nothing fetched from elsewhere.
    assert not re.search(r"<link|<img|src=|@import|url\((?!#)", page)
    words = text_of(page)
    assert "Espèces observées cette année (2026)" in words
    assert "Espèces observées l'année dernière (2025)" in words
    assert "Retour des hirondelles : 14 avril (l'année dernière : 18 avril)" in words
    assert "Faucon pèlerin Falco peregrinus 1 1 1er janvier 2026" in words
    assert "Hirondelle rustique Hirundo rustica 3 14 14 avril 2026" in words
    assert "Hirondelle rustique Hirundo rustica 1 2 18 avril 2025" in words
    for heading in ("Espèce", "Observations", "Nombre", "Première observation"):
        assert heading in words
    new = re.search(r'<section class="new">(.*?)</section>', page, flags=re.S)
    assert new is not None
    new_words = text_of(new.group(1))
    assert "Faucon pèlerin" in new_words and "Martinet noir" in new_words
    assert "Hirondelle rustique" not in new_words and "Vulcain" not in new_words
    # The chart is inside the page, as SVG markup.
    assert page.count("<svg") == 1 and "<?xml" not in page


def test_the_chart_is_svg_in_french(summary_of_a_hostile_name: Any) -> None:
    svg = summary_svg(summary_of_a_hostile_name)

    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    text = svg.decode("utf-8")
    for words in ("cette année (2026)", "l'an dernier (2025)", "Hirondelle rustique", "Vulcain"):
        assert words in text
    assert "nombre compté" in text
    assert "<script" not in text


def test_an_empty_summary_still_draws_a_page_and_a_chart(
    session: Session, settings: Settings
) -> None:
    school_class, _ = make_class(session, settings)
    result = class_summary(session, settings, school_class, 2026)

    svg = summary_svg(result)
    page = summary_html(result)

    ET.fromstring(svg)
    assert "Aucune observation pour l'instant" in svg.decode("utf-8")
    words = text_of(page)
    assert "Aucune observation pour l'instant" in words
    assert "Retour des hirondelles : pas encore vues" in words
    assert "Aucune observation cette année-là." in words


# --- through the API -------------------------------------------------------------------------


@pytest.fixture
def teacher_client(
    client: TestClient, settings: Settings, two_years: tuple[SchoolClass, User]
) -> Iterator[tuple[TestClient, SchoolClass, dict[str, str]]]:
    school_class, teacher = two_years
    yield client, school_class, auth_headers(teacher, settings)


def test_the_teacher_gets_the_summary_as_json_html_and_svg(
    teacher_client: tuple[TestClient, SchoolClass, dict[str, str]],
) -> None:
    client, school_class, headers = teacher_client
    base = f"/classes/{school_class.id}/summary"

    r = client.get(f"{base}?year=2026", headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["year"] == 2026
    assert body["this_year"]["swallows_return"] == "2026-04-14"
    assert [(s["cd_nom"], s["count"], s["first_date"]) for s in body["this_year"]["species"]] == [
        (PEREGRINE, 1, "2026-01-01"),
        (SWALLOW, 14, "2026-04-14"),
        (COMMON_BLUE, 1, "2026-05-03"),
        (SWIFT, 6, "2026-05-03"),
    ]
    assert body["last_year"]["year"] == 2025

    r = client.get(f"{base}.html?year=2026", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    assert "Retour des hirondelles : 14 avril" in text_of(r.text)

    r = client.get(f"{base}.svg?year=2026", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("image/svg+xml")
    ET.fromstring(r.content)


def test_another_teacher_does_not_get_the_summary(
    session: Session,
    settings: Settings,
    teacher_client: tuple[TestClient, SchoolClass, dict[str, str]],
) -> None:
    client, school_class, _ = teacher_client
    other = create_user(session, settings, role="teacher")

    r = client.get(f"/classes/{school_class.id}/summary", headers=auth_headers(other, settings))

    assert r.status_code == 404, r.text
