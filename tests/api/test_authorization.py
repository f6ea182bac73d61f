"""The authorisation matrix: every endpoint of the API × every kind of caller, with the status
each must get.

The table below is the specification. A route added to the API without its row here fails
``test_every_route_is_in_the_matrix``, so that nobody adds an endpoint without deciding who may
call it. Each cell runs against the same world (the owner's pending observation with a photo, a
garden and a visit, other people of every role), built once per backend, and inside a savepoint
rolled back after it, so that one cell's DELETE cannot change the next cell's answer.

Roles: ``anonymous`` (no token), ``owner`` (the sentinel who made the records), ``other`` (another
sentinel), ``teacher`` (who runs the world's class), ``ecologist``, ``admin``, ``pupil`` (a token
from joining that class: no account) and ``other_teacher`` (a teacher of another class). Records
the caller may not see answer 404, as if they did not exist; records they may see but not change
answer 403. A row gives the first six statuses, or all eight; with six, the other teacher gets the
teacher's status and the pupil the one in ``PUPIL``, which must name every route too.
"""

from __future__ import annotations

import copy
import io
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import Connection
from sqlmodel import Session, col, select

from app.accounts.models import User
from app.baselines import service as baselines_service
from app.core.db import Database
from app.core.settings import Settings
from app.core.vocabulary import Role
from app.species.models import Species
from tests.conftest import in_savepoint
from tests.factories import DEFAULT_PASSWORD, auth_headers, create_user, load_reference_data

ROLES = ("anonymous", "owner", "other", "teacher", "ecologist", "admin", "pupil", "other_teacher")
LOOS = (50.4571, 2.7852)


class World:
    """What every cell starts from."""

    def __init__(self, client: TestClient, session: Session, settings: Settings) -> None:
        load_reference_data(session)
        self.client, self.session, self.settings = client, session, settings
        self.users: dict[str, User | None] = {
            "anonymous": None,
            "owner": create_user(session, settings, display_name="Owner"),
            "other": create_user(session, settings, display_name="Other"),
            "teacher": create_user(session, settings, role=Role.teacher),
            "ecologist": create_user(session, settings, role=Role.ecologist),
            "admin": create_user(session, settings, role=Role.admin),
            "other_teacher": create_user(session, settings, role=Role.teacher),
        }
        # A second admin, so that an admin deleting their own account is not the last one.
        create_user(session, settings, role=Role.admin)
        owner = self.headers("owner")
        species = session.exec(select(Species).where(col(Species.cd_nom) == 3696)).one()
        self.species_id = str(species.id)
        self.observation_id = self._post(
            "/observations",
            {
                "client_id": str(uuid.uuid4()),
                "cd_nom": 3696,
                "observed_at": "2026-04-12T07:45:00+02:00",
                "latitude": LOOS[0],
                "longitude": LOOS[1],
            },
            owner,
        )["id"]
        self.site_id = self._post(
            "/sites",
            {
                "client_id": str(uuid.uuid4()),
                "kind": "garden",
                "name": "Jardin",
                "latitude": LOOS[0],
                "longitude": LOOS[1],
            },
            owner,
        )["id"]
        self.visit_id = self._post(f"/sites/{self.site_id}/visits", visit_body(), owner)["id"]
        self.zone_id = client.get("/zones").json()["features"][0]["properties"]["id"]
        self._photo_id: str | None = None
        # The teacher's class, a pupil of it, and the pupil's observation for the class.
        school_class = self._post(
            "/classes",
            {"name": "CM1", "school": "École Basly", "school_year": "2025-2026"},
            self.headers("teacher"),
        )
        self.class_id, self.join_code = school_class["id"], school_class["join_code"]
        joined = self._post(
            "/classes/join", {"join_code": self.join_code, "pseudonym": "Renard"}, {}
        )
        self.pupil_headers = {"Authorization": f"Bearer {joined['access_token']}"}
        self.class_observation_id = self._post(
            "/observations",
            {
                "client_id": str(uuid.uuid4()),
                "cd_nom": 3696,
                "observed_at": "2026-04-14T10:00:00+02:00",
                "latitude": LOOS[0],
                "longitude": LOOS[1],
            },
            self.pupil_headers,
        )["id"]

    def _post(self, url: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        answer = self.client.post(url, json=body, headers=headers)
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    def headers(self, role: str) -> dict[str, str]:
        if role == "pupil":
            return self.pupil_headers
        user = self.users[role]
        return {} if user is None else auth_headers(user, self.settings)

    def user(self, role: str) -> User:
        user = self.users[role]
        assert user is not None
        return user

    @property
    def baseline_id(self) -> str:
        """An inventory baseline, made on first use."""
        rows = baselines_service.list_baselines(self.session, year=2003)
        if not rows:
            baselines_service.import_baselines(
                self.session, BASELINE_FILE.format(cd_nom=3696, count=5)
            )
            rows = baselines_service.list_baselines(self.session, year=2003)
        return str(rows[0][0].id)

    @property
    def photo_id(self) -> str:
        """Made on first use: decoding a photo is the slowest part of a world."""
        if self._photo_id is None:
            answer = self.client.post(
                f"/observations/{self.observation_id}/photos",
                files={"file": ("p.png", png(), "image/png")},
                headers=self.headers("owner"),
            )
            assert answer.status_code == 201, answer.text
            self._photo_id = answer.json()["id"]
        return self._photo_id


BASELINE_FILE = (
    "year,cd_nom,zone_code,site_code,count,unit,method,source\n2003,{cd_nom},,,{count},nests,,\n"
)


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (40, 120, 60)).save(buffer, format="PNG")
    return buffer.getvalue()


def visit_body() -> dict[str, Any]:
    return {
        "client_id": str(uuid.uuid4()),
        "started_at": "2026-06-14T14:00:00+02:00",
        "duration_min": 20,
        "counts": [{"cd_nom": 608364, "count": 2}],
    }


def observation_body() -> dict[str, Any]:
    return {
        "client_id": str(uuid.uuid4()),
        "cd_nom": 3696,
        "observed_at": "2026-04-13T07:45:00+02:00",
        "latitude": LOOS[0],
        "longitude": LOOS[1],
    }


def zones_geojson() -> dict[str, Any]:
    ring = [[2.78, 50.45], [2.79, 50.45], [2.79, 50.46], [2.78, 50.46], [2.78, 50.45]]
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"code": f"T-{uuid.uuid4().hex[:8]}", "name": "Terril test"},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        ],
    }


@dataclass(frozen=True)
class Call:
    """How to call one route in a world, as a given role."""

    path: Callable[[World], str]
    json: Callable[[World, str], Any] | None = None
    form: Callable[[World, str], dict[str, str]] | None = None
    files: bool = False
    csv: str | None = None


def _me_password(world: World, role: str) -> dict[str, str]:
    return {"password": DEFAULT_PASSWORD}


def _token_form(world: World, role: str) -> dict[str, str]:
    return {"username": world.user("owner").email, "password": DEFAULT_PASSWORD}


def _refresh(world: World, role: str) -> dict[str, str]:
    token = world.client.post("/auth/token", data=_token_form(world, role)).json()
    return {"refresh_token": token["refresh_token"]}


A = "anonymous"
# (method, path as the OpenAPI names it): (how to call it, expected status per role in ROLES order)
MATRIX: dict[tuple[str, str], tuple[Call, tuple[int, ...]]] = {
    # --- accounts: anyone may register or sign in; the rest needs a token
    ("POST", "/auth/register"): (
        Call(
            lambda w: "/auth/register",
            json=lambda w, r: {
                "email": f"new-{uuid.uuid4().hex[:8]}@example.org",
                "password": "a-long-enough-password",
                "display_name": "Nouveau",
            },
        ),
        (201, 201, 201, 201, 201, 201),
    ),
    ("POST", "/auth/token"): (
        Call(lambda w: "/auth/token", form=_token_form),
        (200, 200, 200, 200, 200, 200),
    ),
    ("POST", "/auth/refresh"): (
        Call(lambda w: "/auth/refresh", json=_refresh),
        (200, 200, 200, 200, 200, 200),
    ),
    ("GET", "/me"): (Call(lambda w: "/me"), (401, 200, 200, 200, 200, 200)),
    ("PATCH", "/me"): (
        Call(lambda w: "/me", json=lambda w, r: {"display_name": "Renommé"}),
        (401, 200, 200, 200, 200, 200),
    ),
    ("GET", "/me/export"): (Call(lambda w: "/me/export"), (401, 200, 200, 200, 200, 200)),
    ("POST", "/me/delete"): (
        Call(lambda w: "/me/delete", json=_me_password),
        (401, 204, 204, 204, 204, 204),
    ),
    ("PATCH", "/users/{user_id}"): (
        Call(lambda w: f"/users/{w.user('other').id}", json=lambda w, r: {"role": "teacher"}),
        (401, 403, 403, 403, 403, 200),
    ),
    # --- reference data: read by anyone, changed by ecologists and admins
    ("GET", "/species"): (Call(lambda w: "/species?q=hirondelle"), (200,) * 6),
    ("GET", "/species/{species_id}"): (Call(lambda w: f"/species/{w.species_id}"), (200,) * 6),
    ("POST", "/species"): (
        Call(
            lambda w: "/species",
            json=lambda w, r: {
                "cd_nom": 900_000 + uuid.uuid4().int % 99_999,
                "scientific_name": "Lacerta bilineata",
                "group": "reptile",
            },
        ),
        (401, 403, 403, 403, 201, 201),
    ),
    ("PATCH", "/species/{species_id}"): (
        Call(lambda w: f"/species/{w.species_id}", json=lambda w, r: {"sensitive": True}),
        (401, 403, 403, 403, 200, 200),
    ),
    ("GET", "/zones"): (Call(lambda w: "/zones"), (200,) * 6),
    ("GET", "/zones/{zone_id}"): (Call(lambda w: f"/zones/{w.zone_id}"), (200,) * 6),
    ("POST", "/zones/import"): (
        Call(lambda w: "/zones/import", json=lambda w, r: zones_geojson()),
        (401, 403, 403, 403, 200, 200),
    ),
    # --- observations
    ("POST", "/observations"): (
        Call(lambda w: "/observations", json=lambda w, r: observation_body()),
        (401, 201, 201, 201, 201, 201),
    ),
    ("POST", "/observations/batch"): (
        Call(
            lambda w: "/observations/batch",
            json=lambda w, r: {"observations": [observation_body()]},
        ),
        (401, 200, 200, 200, 200, 200),
    ),
    ("GET", "/observations"): (Call(lambda w: "/observations"), (200,) * 6),
    ("GET", "/observations/{observation_id}"): (
        Call(lambda w: f"/observations/{w.observation_id}"),
        (404, 200, 404, 404, 200, 200),
    ),
    ("PATCH", "/observations/{observation_id}"): (
        Call(lambda w: f"/observations/{w.observation_id}", json=lambda w, r: {"count": 2}),
        (401, 200, 404, 404, 403, 403),
    ),
    ("DELETE", "/observations/{observation_id}"): (
        Call(lambda w: f"/observations/{w.observation_id}"),
        (401, 204, 404, 404, 204, 204),
    ),
    # --- photos (of the owner's pending observation)
    ("POST", "/observations/{observation_id}/photos"): (
        Call(lambda w: f"/observations/{w.observation_id}/photos", files=True),
        (401, 201, 404, 404, 403, 403),
    ),
    ("GET", "/photos/{photo_id}"): (
        Call(lambda w: f"/photos/{w.photo_id}"),
        (404, 200, 404, 404, 200, 200),
    ),
    ("GET", "/photos/{photo_id}/large"): (
        Call(lambda w: f"/photos/{w.photo_id}/large"),
        (404, 200, 404, 404, 200, 200),
    ),
    ("GET", "/photos/{photo_id}/small"): (
        Call(lambda w: f"/photos/{w.photo_id}/small"),
        (404, 200, 404, 404, 200, 200),
    ),
    ("GET", "/photos/{photo_id}/original"): (
        # Originals (with their metadata) are for staff only, and not kept by default: 404.
        Call(lambda w: f"/photos/{w.photo_id}/original"),
        (401, 403, 403, 403, 404, 404),
    ),
    ("DELETE", "/photos/{photo_id}"): (
        Call(lambda w: f"/photos/{w.photo_id}"),
        (401, 204, 404, 404, 204, 204),
    ),
    # --- review: ecologists and admins
    ("POST", "/observations/{observation_id}/review"): (
        Call(
            lambda w: f"/observations/{w.observation_id}/review",
            json=lambda w, r: {"decision": "validated"},
        ),
        (401, 403, 403, 403, 200, 200),
    ),
    ("POST", "/visits/{visit_id}/review"): (
        Call(lambda w: f"/visits/{w.visit_id}/review", json=lambda w, r: {"decision": "validated"}),
        (401, 403, 404, 404, 200, 200),
    ),
    ("GET", "/review/observations"): (
        Call(lambda w: "/review/observations"),
        (401, 403, 403, 403, 200, 200),
    ),
    ("GET", "/review/visits"): (Call(lambda w: "/review/visits"), (401, 403, 403, 403, 200, 200)),
    ("GET", "/review/flags"): (Call(lambda w: "/review/flags"), (200,) * 6),
    ("POST", "/review/bulk"): (
        Call(
            lambda w: "/review/bulk",
            json=lambda w, r: {"ids": [w.observation_id], "decision": "validated"},
        ),
        (401, 403, 403, 403, 200, 200),
    ),
    ("GET", "/audit"): (Call(lambda w: "/audit"), (401, 403, 403, 403, 200, 200)),
    # --- inventory baselines: ecologists and admins
    ("POST", "/baselines/import"): (
        Call(lambda w: "/baselines/import", csv=BASELINE_FILE.format(cd_nom=3696, count=7)),
        (401, 403, 403, 403, 200, 200),
    ),
    ("GET", "/baselines"): (Call(lambda w: "/baselines"), (401, 403, 403, 403, 200, 200)),
    ("DELETE", "/baselines/{baseline_id}"): (
        Call(lambda w: f"/baselines/{w.baseline_id}"),
        (401, 403, 403, 403, 204, 204),
    ),
    # --- statistics: public
    ("GET", "/stats/phenology"): (Call(lambda w: "/stats/phenology?cd_nom=3696"), (200,) * 6),
    ("GET", "/stats/yearly"): (Call(lambda w: "/stats/yearly?cd_nom=3696"), (200,) * 6),
    ("GET", "/stats/comparison"): (Call(lambda w: "/stats/comparison?year=2026"), (200,) * 6),
    ("GET", "/stats/comparison.svg"): (
        Call(lambda w: "/stats/comparison.svg?year=2026"),
        (200,) * 6,
    ),
    # A garden of one year cannot make a trend: a 422 for everyone, never a 401 or 403.
    ("GET", "/stats/trends"): (Call(lambda w: "/stats/trends?cd_nom=608364"), (422,) * 6),
    ("GET", "/stats/trends.svg"): (Call(lambda w: "/stats/trends.svg?cd_nom=608364"), (422,) * 6),
    ("GET", "/stats/trends.png"): (Call(lambda w: "/stats/trends.png?cd_nom=608364"), (422,) * 6),
    # --- exports: ecologists and admins only (they name observers next to exact positions)
    ("GET", "/exports/observations.csv"): (
        Call(lambda w: "/exports/observations.csv"),
        (401, 403, 403, 403, 200, 200),
    ),
    ("GET", "/exports/observations.geojson"): (
        Call(lambda w: "/exports/observations.geojson"),
        (401, 403, 403, 403, 200, 200),
    ),
    ("GET", "/exports/dwca.zip"): (
        Call(lambda w: "/exports/dwca.zip"),
        (401, 403, 403, 403, 200, 200),
    ),
    ("GET", "/exports/sinp.csv"): (
        Call(lambda w: "/exports/sinp.csv"),
        (401, 403, 403, 403, 200, 200),
    ),
    # The shipped placeholder contact: staff are refused with 409 before anything is built.
    ("POST", "/exports/publish"): (
        Call(lambda w: "/exports/publish"),
        (401, 403, 403, 403, 409, 409),
    ),
    # --- open data: anyone, nothing published yet in the test world
    ("GET", "/open-data"): (Call(lambda w: "/open-data"), (200,) * 6),
    ("GET", "/open-data/{name}"): (Call(lambda w: "/open-data/dwca.zip"), (404,) * 6),
    # --- sites and visits: the owner's and the staff's
    ("POST", "/sites"): (
        Call(
            lambda w: "/sites",
            json=lambda w, r: {
                "client_id": str(uuid.uuid4()),
                "kind": "nest_site",
                "name": "Façade",
                "latitude": LOOS[0],
                "longitude": LOOS[1],
            },
        ),
        (401, 201, 201, 201, 201, 201),
    ),
    ("GET", "/sites"): (Call(lambda w: "/sites"), (401, 200, 200, 200, 200, 200)),
    ("GET", "/sites/{site_id}"): (
        Call(lambda w: f"/sites/{w.site_id}"),
        (401, 200, 404, 404, 200, 200),
    ),
    ("PATCH", "/sites/{site_id}"): (
        Call(lambda w: f"/sites/{w.site_id}", json=lambda w, r: {"name": "Jardin du fond"}),
        (401, 200, 404, 404, 403, 403),
    ),
    ("DELETE", "/sites/{site_id}"): (
        Call(lambda w: f"/sites/{w.site_id}"),
        (401, 204, 404, 404, 204, 204),
    ),
    ("POST", "/sites/{site_id}/visits"): (
        Call(lambda w: f"/sites/{w.site_id}/visits", json=lambda w, r: visit_body()),
        (401, 201, 404, 404, 201, 201),
    ),
    ("GET", "/sites/{site_id}/visits"): (
        Call(lambda w: f"/sites/{w.site_id}/visits"),
        (401, 200, 404, 404, 200, 200),
    ),
    ("GET", "/sites/{site_id}/yearly"): (
        Call(lambda w: f"/sites/{w.site_id}/yearly"),
        (401, 200, 404, 404, 200, 200),
    ),
    ("POST", "/visits/batch"): (
        Call(
            lambda w: "/visits/batch",
            json=lambda w, r: {"visits": [{**visit_body(), "site_id": w.site_id}]},
        ),
        # Everyone may send a batch; items naming a site they may not count at are rejected.
        (401, 200, 200, 200, 200, 200),
    ),
    ("GET", "/visits"): (Call(lambda w: "/visits"), (401, 200, 200, 200, 200, 200)),
    ("GET", "/visits/{visit_id}"): (
        Call(lambda w: f"/visits/{w.visit_id}"),
        (401, 200, 404, 404, 200, 200),
    ),
    ("PATCH", "/visits/{visit_id}"): (
        Call(lambda w: f"/visits/{w.visit_id}", json=lambda w, r: {"duration_min": 25}),
        (401, 200, 404, 404, 403, 403),
    ),
    ("DELETE", "/visits/{visit_id}"): (
        Call(lambda w: f"/visits/{w.visit_id}"),
        (401, 204, 404, 404, 204, 204),
    ),
    # --- health: anyone
    ("GET", "/healthz"): (Call(lambda w: "/healthz"), (200,) * 6),
    ("GET", "/readyz"): (Call(lambda w: "/readyz"), (200,) * 6),
    # --- classes: (anonymous, owner, other, teacher, ecologist, admin, pupil, other teacher)
    ("POST", "/classes"): (
        Call(
            lambda w: "/classes",
            json=lambda w, r: {"name": "CE2", "school": "École Ferry", "school_year": "2026-2027"},
        ),
        (401, 403, 403, 201, 201, 201, 403, 201),
    ),
    ("GET", "/classes"): (Call(lambda w: "/classes"), (401, 403, 403, 200, 200, 200, 403, 200)),
    ("POST", "/classes/join"): (
        Call(
            lambda w: "/classes/join",
            json=lambda w, r: {"join_code": w.join_code, "pseudonym": f"Hibou {r}"},
        ),
        (201,) * 8,
    ),
    ("POST", "/classes/{class_id}/join-code"): (
        Call(lambda w: f"/classes/{w.class_id}/join-code"),
        (401, 403, 403, 200, 200, 200, 403, 404),
    ),
    ("POST", "/classes/{class_id}/close"): (
        Call(lambda w: f"/classes/{w.class_id}/close"),
        (401, 403, 403, 200, 200, 200, 403, 404),
    ),
    ("GET", "/classes/{class_id}/observations"): (
        Call(lambda w: f"/classes/{w.class_id}/observations"),
        (401, 403, 403, 200, 200, 200, 403, 404),
    ),
    ("POST", "/classes/{class_id}/check"): (
        Call(
            lambda w: f"/classes/{w.class_id}/check",
            json=lambda w, r: {"ids": [w.class_observation_id]},
        ),
        (401, 403, 403, 200, 200, 200, 403, 404),
    ),
    ("GET", "/classes/{class_id}/summary"): (
        Call(lambda w: f"/classes/{w.class_id}/summary"),
        (401, 404, 404, 200, 200, 200, 200, 404),
    ),
    ("GET", "/classes/{class_id}/summary.html"): (
        Call(lambda w: f"/classes/{w.class_id}/summary.html"),
        (401, 404, 404, 200, 200, 200, 200, 404),
    ),
    ("GET", "/classes/{class_id}/summary.svg"): (
        Call(lambda w: f"/classes/{w.class_id}/summary.svg"),
        (401, 404, 404, 200, 200, 200, 200, 404),
    ),
    ("POST", "/teacher-invitations"): (
        Call(lambda w: "/teacher-invitations"),
        (401, 403, 403, 403, 201, 201, 403, 403),
    ),
}

# What a pupil's token gets from the routes whose rows give six statuses: the capture and sync
# routes for the class (the owner's records stay out of reach: 404), the public reference data,
# and 403 from everything else.
_PUPIL_ALLOWED = {
    ("GET", "/observations"): 200,
    ("POST", "/observations"): 201,
    ("POST", "/observations/batch"): 200,
    ("GET", "/observations/{observation_id}"): 404,
    ("POST", "/observations/{observation_id}/photos"): 404,
    ("GET", "/photos/{photo_id}"): 404,
    ("GET", "/photos/{photo_id}/small"): 404,
    ("GET", "/photos/{photo_id}/large"): 404,
    ("GET", "/sites"): 200,
    ("POST", "/sites"): 201,
    ("GET", "/sites/{site_id}"): 404,
    ("GET", "/sites/{site_id}/visits"): 404,
    ("POST", "/sites/{site_id}/visits"): 404,
    ("GET", "/sites/{site_id}/yearly"): 404,
    ("POST", "/visits/batch"): 200,
    ("GET", "/visits"): 200,
    ("GET", "/visits/{visit_id}"): 404,
}
PUPIL: dict[tuple[str, str], int] = {
    route: _PUPIL_ALLOWED.get(route, 403)
    for route, (_, statuses) in MATRIX.items()
    if len(statuses) == 6
}
# Public reads answer the pupil as they answer anyone.
for _route, (_, _statuses) in MATRIX.items():
    if _route[0] == "GET" and _route[1].startswith(("/species", "/zones", "/stats")):
        PUPIL[_route] = _statuses[0]
PUPIL[("GET", "/healthz")] = 200
PUPIL[("GET", "/readyz")] = 200


def expected_statuses(route: tuple[str, str]) -> tuple[int, ...]:
    _, statuses = MATRIX[route]
    if len(statuses) == 8:
        return statuses
    return (*statuses, PUPIL[route], statuses[3])


def _routes(app: FastAPI) -> set[tuple[str, str]]:
    routes = set()
    for path, operations in app.openapi()["paths"].items():
        for method in operations:
            routes.add((method.upper(), path.removeprefix("/api/v1")))
    return routes


def test_every_route_is_in_the_matrix(app: FastAPI) -> None:
    missing = sorted(_routes(app) - MATRIX.keys())
    assert missing == [], f"routes with no row in the authorisation matrix: {missing}"
    gone = sorted(MATRIX.keys() - _routes(app))
    assert gone == [], f"rows of the matrix for routes that no longer exist: {gone}"


@pytest.fixture(scope="module")
def module_settings(module_settings: Settings) -> Settings:
    """The pupil's token is made once, with the world: it must outlive the module's run."""
    module_settings.access_token_minutes = 24 * 60
    return module_settings


@pytest.fixture(scope="module")
def shared_world(module_app: FastAPI, module_settings: Settings) -> World:
    """The world every cell starts from, built once per backend (see the conftest's
    ``module_connection``)."""
    db: Database = module_app.state.db
    with (
        TestClient(module_app, base_url="http://testserver/api/v1") as client,
        db.session() as session,
    ):
        world = World(client, session, module_settings)
        session.commit()  # into the module's transaction, which is never committed
    return world


@pytest.fixture
def settings(module_settings: Settings) -> Settings:
    return module_settings


@pytest.fixture
def connection(module_connection: Connection, shared_world: World) -> Iterator[Connection]:
    yield from in_savepoint(module_connection)


def world_of_this_test(
    shared: World, client: TestClient, session: Session, settings: Settings
) -> World:
    """The shared world through this test's client and session; its photo, made on first use,
    is the test's own (rolled back with it)."""
    world = copy.copy(shared)
    world.client, world.session, world.settings = client, session, settings
    world._photo_id = None
    return world


CELLS = [
    pytest.param(route, role, expected_statuses(route)[i], id=f"{route[0]} {route[1]} as {role}")
    for route in MATRIX
    for i, role in enumerate(ROLES)
]


@pytest.mark.parametrize(("route", "role", "expected"), CELLS)
def test_the_matrix(
    client: TestClient,
    session: Session,
    settings: Settings,
    route: tuple[str, str],
    role: str,
    expected: int,
    shared_world: World,
) -> None:
    world = world_of_this_test(shared_world, client, session, settings)
    call, _ = MATRIX[route]
    method, _ = route
    url = call.path(world)
    if url.startswith("/healthz") or url.startswith("/readyz"):
        url = f"http://testserver{url}"
    kwargs: dict[str, Any] = {"headers": world.headers(role)}
    if call.json is not None:
        kwargs["json"] = call.json(world, role)
    if call.form is not None:
        kwargs["data"] = call.form(world, role)
    if call.files:
        kwargs["files"] = {"file": ("p.png", png(), "image/png")}
    if call.csv is not None:
        kwargs["files"] = {"file": ("b.csv", call.csv.encode(), "text/csv")}
    answer = client.request(method, url, **kwargs)
    assert answer.status_code == expected, f"{method} {url} as {role}: {answer.text[:300]}"
    if answer.status_code >= 400:
        assert answer.headers["content-type"].startswith("application/problem+json")
