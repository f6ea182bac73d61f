"""Inventory baselines: the CPIE's file checked whole, stored all or nothing, re-imported without
changes, listed and deleted by ecologists, each change in the audit trail."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import Session, col, func, select

from app.accounts.models import User
from app.audit.models import AuditEvent
from app.baselines.csvfile import BaselineFileError, parse_baselines
from app.baselines.models import Baseline
from app.core.settings import Settings
from app.surveys.models import Site
from tests.factories import auth_headers, create_user

HEADER = "year,cd_nom,zone_code,site_code,count,unit,method,source\n"
GOOD = (
    HEADER
    + "2010,459478,,,34,nests,recensement des façades,CPIE inventaire 2010\n"
    + "2010,3696,62528,,12,nests,recensement des granges,CPIE inventaire 2010\n"
    + "2010,608364,,,1,presence,,CPIE inventaire 2010\n"
)


def _import(client: TestClient, user: User, settings: Settings, text: str) -> dict:  # type: ignore[type-arg]
    answer = client.post(
        "/baselines/import",
        files={"file": ("inventaire.csv", text.encode("utf-8"), "text/csv")},
        headers=auth_headers(user, settings),
    )
    return {"status": answer.status_code, **answer.json()}


def _count(session: Session) -> int:
    return session.exec(select(func.count()).select_from(Baseline)).one()


def test_a_good_file_is_stored_and_listed(
    client: TestClient, session: Session, settings: Settings, ecologist: User
) -> None:
    before = _count(session)
    report = _import(client, ecologist, settings, GOOD)
    assert report == {"status": 200, "rows": 3, "created": 3, "updated": 0, "unchanged": 0}
    assert _count(session) == before + 3

    listed = client.get("/baselines?year=2010", headers=auth_headers(ecologist, settings)).json()
    ours = [b for b in listed["items"] if b["source"] == "CPIE inventaire 2010"]
    assert [(b["cd_nom"], b["count"], b["unit"]) for b in ours] == [
        (608364, 1.0, "presence"),
        (459478, 34.0, "nests"),
        (3696, 12.0, "nests"),
    ]  # by scientific name: Aglais, Delichon, Hirundo
    swallow = next(b for b in ours if b["cd_nom"] == 3696)
    assert swallow["zone_id"] is not None
    assert next(b for b in ours if b["cd_nom"] == 459478)["zone_id"] is None


def test_importing_the_same_file_again_changes_nothing(
    client: TestClient, session: Session, settings: Settings, ecologist: User
) -> None:
    _import(client, ecologist, settings, GOOD)
    events = session.exec(select(func.count()).select_from(AuditEvent)).one()
    again = _import(client, ecologist, settings, GOOD)
    assert again == {"status": 200, "rows": 3, "created": 0, "updated": 0, "unchanged": 3}
    assert session.exec(select(func.count()).select_from(AuditEvent)).one() == events

    corrected = GOOD.replace(",34,nests,", ",36,nests,")
    fixed = _import(client, ecologist, settings, corrected)
    assert fixed == {"status": 200, "rows": 3, "created": 0, "updated": 1, "unchanged": 2}
    change = session.exec(
        select(AuditEvent)
        .where(col(AuditEvent.entity) == "baseline", col(AuditEvent.action) == "update")
        .order_by(col(AuditEvent.at).desc())
    ).first()
    assert change is not None and change.changes == {"count": [34.0, 36.0]}


def test_every_error_is_reported_with_its_line_and_nothing_is_stored(
    client: TestClient, session: Session, settings: Settings, ecologist: User
) -> None:
    before = _count(session)
    bad = (
        HEADER
        + "2010,459478,,,34,nests,,\n"  # line 2: good
        + "1850,459478,,,3,nests,,\n"  # line 3: year
        + "2011,999999999,,,3,nests,,\n"  # line 4: unknown species
        + "2011,3696,XXXXX,,3,nests,,\n"  # line 5: unknown zone
        + "2011,3696,,NOPE,3,nests,,\n"  # line 6: unknown site
        + "2011,3696,,,-1,nests,,\n"  # line 7: negative
        + "2011,3696,,,2,pairs,,\n"  # line 8: unit
        + "2011,3696,,,2,presence,,\n"  # line 9: presence is 0 or 1
        + "2010,459478,,,35,nests,,\n"  # line 10: same as line 2
    )
    answer = _import(client, ecologist, settings, bad)
    assert answer["status"] == 422
    assert answer["code"] == "baseline.invalid_file"
    lines = [int(e["message"].split(":")[0].removeprefix("line ")) for e in answer["errors"]]
    assert lines == [3, 4, 5, 6, 7, 8, 9, 10]
    assert "line 10: the same baseline as line 2" in answer["errors"][-1]["message"]
    assert _count(session) == before


def test_a_spreadsheet_file_with_semicolons_and_a_bom_is_read(
    client: TestClient, session: Session, settings: Settings, ecologist: User
) -> None:
    text = "\ufeff" + GOOD.replace(",", ";").replace("façades", "facades")
    report = _import(client, ecologist, settings, text)
    assert report["status"] == 200 and report["created"] == 3


def test_a_site_code_ties_a_baseline_to_its_site(
    client: TestClient, session: Session, settings: Settings, ecologist: User
) -> None:
    owner = create_user(session, settings)
    site = Site(
        client_id=uuid.uuid4(),
        owner_id=owner.id,
        kind="nest_site",
        name="Façades rue Jean Jaurès",
        latitude=50.4571,
        longitude=2.7852,
        code=f"HIR-{uuid.uuid4().hex[:6]}",
    )
    session.add(site)
    session.flush()
    report = _import(client, ecologist, settings, HEADER + f"2009,459478,,{site.code},7,nests,,\n")
    assert report["created"] == 1
    stored = session.exec(select(Baseline).where(col(Baseline.site_id) == site.id)).one()
    assert (stored.year, stored.count) == (2009, 7.0)


def test_only_ecologists_import_list_and_delete(
    client: TestClient, session: Session, settings: Settings, ecologist: User
) -> None:
    sentinel = create_user(session, settings)
    assert _import(client, sentinel, settings, GOOD)["status"] == 403
    assert client.get("/baselines").status_code == 401
    _import(client, ecologist, settings, GOOD)
    one = client.get("/baselines", headers=auth_headers(ecologist, settings)).json()["items"][0]
    url = f"/baselines/{one['id']}"
    assert client.delete(url, headers=auth_headers(sentinel, settings)).status_code == 403
    assert client.delete(url, headers=auth_headers(ecologist, settings)).status_code == 204
    assert client.delete(url, headers=auth_headers(ecologist, settings)).status_code == 404
    deleted = session.exec(
        select(AuditEvent).where(
            col(AuditEvent.entity_id) == uuid.UUID(one["id"]), col(AuditEvent.action) == "delete"
        )
    ).one()
    assert deleted.actor_id == ecologist.id


def test_a_file_that_is_not_a_baseline_file(
    client: TestClient, settings: Settings, ecologist: User
) -> None:
    for text, expected in (
        ("", "empty"),
        ("a,b,c\n1,2,3\n", "missing column"),
        (HEADER, "no rows"),
        ("year,cd_nom,count,unit,colour\n2010,3696,1,nests,blue\n", "unknown column"),
    ):
        answer = _import(client, ecologist, settings, text)
        assert answer["status"] == 422, text
        assert expected in answer["errors"][0]["message"], answer


@given(st.text(max_size=400))
def test_any_text_is_parsed_or_refused_with_line_numbers(text: str) -> None:
    try:
        rows = parse_baselines(text)
    except BaselineFileError as exc:
        assert exc.errors and all(e.line >= 1 and e.message for e in exc.errors)
    else:
        assert rows and all(r.count >= 0 and 1900 <= r.year <= 2100 for r in rows)


@given(
    st.lists(
        st.tuples(st.integers(1900, 2100), st.integers(1, 10**9), st.integers(0, 10**6)),
        min_size=1,
        max_size=30,
    )
)
def test_valid_rows_come_back_as_written(rows: list[tuple[int, int, int]]) -> None:
    text = HEADER + "".join(f"{y},{c},,,{n},individuals,,\n" for y, c, n in rows)
    parsed = parse_baselines(text)
    assert [(r.year, r.cd_nom, r.count) for r in parsed] == [(y, c, float(n)) for y, c, n in rows]
    assert [r.line for r in parsed] == list(range(2, len(rows) + 2))
