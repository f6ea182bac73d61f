"""Whatever a phone (or anything else) sends, the capture API answers with a decision, never a
500: the observation, or a 422 naming what is wrong."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlmodel import Session

from app.accounts.models import User
from app.core.settings import Settings
from app.observations.schemas import ObservationCreate
from tests.factories import auth_headers, create_user
from tests.observations.test_observations import PEREGRINE, SWALLOW, species_by_cd_nom

PROPERTY_SETTINGS = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# JSON cannot say "infinity" except as a number too large for a double; json.dumps writes
# Infinity/NaN (allow_nan=True), and these markers become the 1e400 literals after dumping.
POS_HUGE, NEG_HUGE = "__1e400__", "__-1e400__"
KNOWN_SPECIES = "__known_species_id__"
FIELDS = set(ObservationCreate.model_fields)

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([POS_HUGE, NEG_HUGE]),
    st.text(max_size=30),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def aware(offset_hours: int) -> st.SearchStrategy[str]:
    tz = timezone(timedelta(hours=offset_hours))
    return st.datetimes(
        min_value=datetime(1890, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(tz)
    ).map(lambda d: d.isoformat())


observed_at = st.one_of(
    aware(0),
    aware(2),
    aware(-14),
    st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2026, 1, 1)).map(
        lambda d: d.replace(tzinfo=UTC).isoformat()
    ),
    st.datetimes().map(lambda d: d.isoformat()),  # naive
    st.sampled_from(["2026-04-12T07:45:00+02:00", "2026-04-12T07:45:00Z", "2026-04-12",
                     "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "hier", ""]),
    junk,
)  # fmt: skip


def floats_around(low: float, high: float) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.floats(min_value=low, max_value=high),
        st.floats(min_value=low * 1.01 - 1, max_value=high * 1.01 + 1),
        st.sampled_from([low, high, POS_HUGE, NEG_HUGE, float("nan"), float("inf")]),
        st.integers(min_value=-(10**30), max_value=10**30),
        junk,
    )


FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "client_id": st.one_of(st.uuids().map(str), st.uuids().map(lambda u: u.hex), junk),
    "species_id": st.one_of(st.just(KNOWN_SPECIES), st.uuids().map(str), junk),
    "cd_nom": st.one_of(st.sampled_from([SWALLOW, PEREGRINE, 0, -1, 2**31, 99999999]), junk),
    "observed_at": observed_at,
    "latitude": floats_around(-90, 90),
    "longitude": floats_around(-180, 180),
    "accuracy_m": floats_around(0, 100_000),
    "count": st.one_of(st.integers(min_value=-2, max_value=100_002), st.just(10**30), junk),
    "count_unit": st.one_of(st.sampled_from(["individuals", "nests", "pairs", "NESTS"]), junk),
    "notes": st.one_of(
        st.text(max_size=50), st.text(min_size=1995, max_size=2005), st.just("a\x00b"), junk
    ),
}
OFFSETS = [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5))]
valid_values: dict[str, st.SearchStrategy[Any]] = {
    "client_id": st.uuids(version=4).map(str),
    "observed_at": st.datetimes(
        min_value=datetime(1900, 1, 2), max_value=datetime(2026, 1, 1),
        timezones=st.sampled_from(OFFSETS),
    ).map(lambda d: d.isoformat()),
    "latitude": st.floats(min_value=-90, max_value=90),
    "longitude": st.floats(min_value=-180, max_value=180),
    "accuracy_m": st.one_of(st.none(), st.floats(min_value=0, max_value=100_000)),
    "count": st.integers(min_value=0, max_value=100_000),
    "count_unit": st.sampled_from(["individuals", "nests"]),
    "notes": st.one_of(st.none(), st.text(max_size=100)),
}  # fmt: skip


@st.composite
def payloads(draw: st.DrawFn) -> dict[str, Any]:
    """A valid observation with a few of its fields broken, removed, or unknown ones added."""
    body = {name: draw(strategy) for name, strategy in valid_values.items()}
    body.update(draw(st.sampled_from([{"cd_nom": SWALLOW}, {"cd_nom": PEREGRINE},
                                      {"species_id": KNOWN_SPECIES}])))  # fmt: skip
    for name in draw(st.sets(st.sampled_from(sorted(FIELD_VALUES)), max_size=4)):
        if draw(st.integers(0, 3)) == 0:
            body.pop(name, None)
        else:
            body[name] = draw(FIELD_VALUES[name])
    if draw(st.integers(0, 5)) == 0:
        body.update(draw(st.dictionaries(st.text(max_size=8), junk, min_size=1, max_size=2)))
    return body


def dump(value: Any, species_id: str) -> str:
    text = json.dumps(value, allow_nan=True)
    text = text.replace(json.dumps(KNOWN_SPECIES), json.dumps(species_id))
    return text.replace(json.dumps(POS_HUGE), "1e400").replace(json.dumps(NEG_HUGE), "-1e400")


def names_sent_field(field: str, sent: Any) -> bool:
    """``field`` is a key of the payload, a field of the schema, or the body as a whole."""
    keys = set(sent) if isinstance(sent, dict) else set()
    return field in keys or field.split(".")[0].split("[")[0] in FIELDS | {"body"}


def check_decision(status: int, body: dict[str, Any], sent: Any) -> None:
    """201/200 with the observation, or a 422 whose errors name fields of the payload."""
    assert status in (200, 201, 422), (status, body, sent)
    if status == 422:
        assert body["status"] == 422
        assert body["code"]
        assert body["errors"], body
        fields = [e["field"] for e in body["errors"]]
        assert all(names_sent_field(f, sent) for f in fields), (fields, sent)
    else:
        assert isinstance(sent, dict)
        assert body["client_id"] == str(uuid.UUID(str(sent["client_id"])))
        assert body["status"] in ("pending", "validated", "rejected", "needs_info")


@pytest.fixture
def user(session: Session, settings: Settings) -> User:
    """Shared by every example of a test: hypothesis runs the body many times per fixture."""
    return create_user(session, settings)


@given(data=st.data())
@PROPERTY_SETTINGS
def test_any_payload_gets_a_decision(
    client: TestClient, session: Session, settings: Settings, user: User, data: st.DataObject
) -> None:
    species_id = str(species_by_cd_nom(session, SWALLOW).id)
    sent = data.draw(payloads())
    r = client.post(
        "/observations",
        content=dump(sent, species_id),
        headers={**auth_headers(user, settings), "Content-Type": "application/json"},
    )
    assert r.status_code != 500
    event(f"status {r.status_code}")
    if r.status_code == 422:
        assert r.headers["content-type"].startswith("application/problem+json")
    check_decision(r.status_code, r.json(), json.loads(dump(sent, species_id)))


@given(data=st.data())
@PROPERTY_SETTINGS
def test_any_batch_gets_a_decision_per_item(
    client: TestClient, session: Session, settings: Settings, user: User, data: st.DataObject
) -> None:
    species_id = str(species_by_cd_nom(session, SWALLOW).id)
    items = data.draw(st.lists(st.one_of(payloads(), junk), max_size=8))
    sent = json.loads(dump({"observations": items}, species_id))["observations"]
    r = client.post(
        "/observations/batch",
        content=dump({"observations": items}, species_id),
        headers={**auth_headers(user, settings), "Content-Type": "application/json"},
    )
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert len(results) == len(items)
    for result, item in zip(results, sent, strict=True):
        event(f"item {result['status']}")
        if result["status"] == "rejected":
            assert result["id"] is None
            check_decision(422, {"status": 422, "code": "x", "errors": result["errors"]}, item)
        else:
            assert result["status"] in ("created", "existing")
            assert result["client_id"] == str(uuid.UUID(str(item["client_id"])))
            uuid.UUID(result["id"])


@given(body=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)))
@PROPERTY_SETTINGS
def test_garbage_bodies_are_refused_without_a_500(
    client: TestClient, settings: Settings, user: User, body: bytes
) -> None:
    headers = {**auth_headers(user, settings), "Content-Type": "application/json"}
    for path in ("/observations", "/observations/batch"):
        r = client.post(path, content=body, headers=headers)
        assert 400 <= r.status_code < 500 or (path.endswith("batch") and r.status_code == 200), (
            r.status_code,
            r.text,
        )
        if r.status_code >= 400:
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["code"]
