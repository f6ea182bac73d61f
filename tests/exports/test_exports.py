"""``GET /exports/observations.csv``, ``.geojson`` and ``/exports/sinp.csv``: each file read
back by an independent reader (the ``csv`` module in both dialects, shapely for GeoJSON) and
checked field by field against what was stored, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
import shapely.geometry
import shapely.wkt
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import update
from sqlmodel import Session, col

from app.accounts.models import User
from app.core.settings import Settings
from app.core.vocabulary import Role
from app.exports import service, tabular
from app.exports.rows import ObservationRow, Photo, Taxon, export_filters
from app.observations.models import Observation
from app.observations.schemas import ObservationFilters
from tests.factories import auth_headers, create_user, load_reference_data

SWALLOW, PEREGRINE, HOUSE_MARTIN = 3696, 2938, 459478
LOOS = (50.4571, 2.7852)
NEST_SITE = (50.4602, 2.7791)  # a few hundred metres away


@dataclass
class World:
    sentinel: User
    other: User
    ecologist: User
    admin: User
    teacher: User
    swallow: dict[str, Any]  # validated, 3 individuals
    martin_nests: dict[str, Any]  # validated, 4 nests
    pending: dict[str, Any]  # pending swallow
    falcon: dict[str, Any]  # validated, sensitive


def _observe(
    client: TestClient,
    user: User,
    settings: Settings,
    cd_nom: int,
    point: tuple[float, float],
    *,
    count: int = 1,
    unit: str = "individuals",
    at: str = "2025-05-10T08:30:00+02:00",
) -> dict[str, Any]:
    answer = client.post(
        "/observations",
        json={
            "client_id": str(uuid.uuid4()),
            "cd_nom": cd_nom,
            "observed_at": at,
            "latitude": point[0],
            "longitude": point[1],
            "accuracy_m": 8,
            "count": count,
            "count_unit": unit,
        },
        headers=auth_headers(user, settings),
    )
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _validate(session: Session, *ids: str) -> None:
    session.execute(
        update(Observation)
        .where(col(Observation.id).in_([uuid.UUID(i) for i in ids]))
        .values(status="validated")
    )
    session.flush()


@pytest.fixture
def world(client: TestClient, session: Session, settings: Settings) -> World:
    load_reference_data(session)
    sentinel = create_user(session, settings, display_name="Mésange du Terril")
    other = create_user(session, settings, display_name="Voisin")
    ecologist = create_user(session, settings, role=Role.ecologist, display_name="CPIE")
    admin = create_user(session, settings, role=Role.admin, display_name="Mairie")
    teacher = create_user(session, settings, role=Role.teacher, display_name="Mme Leroy")
    swallow = _observe(client, sentinel, settings, SWALLOW, LOOS, count=3)
    martin = _observe(
        client, sentinel, settings, HOUSE_MARTIN, NEST_SITE, count=4, unit="nests",
        at="2025-06-01T23:30:00+00:00",  # 2 June in Loos-en-Gohelle
    )  # fmt: skip
    pending = _observe(client, sentinel, settings, SWALLOW, LOOS, at="2025-07-01T10:00:00+02:00")
    falcon = _observe(client, sentinel, settings, PEREGRINE, NEST_SITE, at="2025-04-01T09:00:00Z")
    _validate(session, swallow["id"], martin["id"], falcon["id"])
    return World(sentinel, other, ecologist, admin, teacher, swallow, martin, pending, falcon)


def _get(client: TestClient, path: str, user: User, settings: Settings) -> Any:
    answer = client.get(path, headers=auth_headers(user, settings))
    assert answer.status_code == 200, answer.text
    return answer


def _csv(text: str, delimiter: str = ",") -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter))


# --- CSV ----------------------------------------------------------------------------------------


def test_csv_holds_the_validated_observations_field_by_field(
    client: TestClient, settings: Settings, world: World
) -> None:
    answer = _get(client, "/exports/observations.csv", world.ecologist, settings)
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.headers["content-disposition"].startswith("attachment; filename=")
    assert answer.content.count(b"\r\n") == 4  # RFC 4180 line ends: a header and three rows
    rows = {r["id"]: r for r in _csv(answer.content.decode("utf-8"))}
    assert set(rows) == {world.swallow["id"], world.martin_nests["id"], world.falcon["id"]}
    swallow = rows[world.swallow["id"]]
    assert swallow == {
        "id": world.swallow["id"],
        "observed_at": "2025-05-10T06:30:00Z",
        "local_date": "2025-05-10",
        "local_time": "08:30",
        "cd_nom": str(SWALLOW),
        "cd_ref": str(SWALLOW),
        "scientific_name": "Hirundo rustica",
        "vernacular_name": swallow["vernacular_name"],
        "latitude": str(LOOS[0]),
        "longitude": str(LOOS[1]),
        "accuracy_m": "8.0",
        "generalised": "false",
        "count": "3",
        "count_unit": "individuals",
        "zone_code": "62528",
        "zone_name": swallow["zone_name"],
        "status": "validated",
        "observer": "Mésange du Terril",
        "photo_urls": "",
        "photo_licences": "",
    }
    assert swallow["vernacular_name"] == "Hirondelle rustique"
    assert swallow["zone_name"] == "Loos-en-Gohelle"
    martin = rows[world.martin_nests["id"]]
    assert (martin["count"], martin["count_unit"], martin["local_date"]) == (
        "4",
        "nests",
        "2025-06-02",
    )
    # Oldest first.
    assert list(rows) == [world.falcon["id"], world.swallow["id"], world.martin_nests["id"]]


EXPORTS = (
    "/exports/observations.csv",
    "/exports/observations.csv?dialect=excel-fr",
    "/exports/observations.geojson",
    "/exports/dwca.zip",
    "/exports/sinp.csv",
)


@pytest.mark.parametrize("path", EXPORTS)
def test_exports_are_for_ecologists_and_admins_only(
    client: TestClient, settings: Settings, world: World, path: str
) -> None:
    """An export names observers next to the exact places and times of their sightings (a
    garden is a home): the contract gives it to ecologists, and admins, nobody else."""
    anonymous = client.get(path)
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"].startswith("application/problem+json")
    assert "Mésange" not in anonymous.text
    for user in (world.sentinel, world.other, world.teacher):
        refused = client.get(path, headers=auth_headers(user, settings))
        assert refused.status_code == 403, (path, user.role)
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["code"] == "auth.role_required"
    for user in (world.ecologist, world.admin):
        assert client.get(path, headers=auth_headers(user, settings)).status_code == 200


def test_staff_get_the_sensitive_species_exact_and_the_cli_public_export_generalises_it(
    client: TestClient, db: Any, settings: Settings, world: World
) -> None:
    for user in (world.ecologist, world.admin):
        exact = {
            r["id"]: r for r in _csv(_get(client, "/exports/observations.csv", user, settings).text)
        }[world.falcon["id"]]
        assert (float(exact["latitude"]), float(exact["longitude"])) == NEST_SITE
        assert exact["generalised"] == "false"
    # ``sentinelles export --public``: what anyone may see, the sensitive position generalised.
    public = {r["id"]: r for r in _csv(_public_export(db, settings, service.ExportFormat.csv))}
    falcon = public[world.falcon["id"]]
    assert falcon["generalised"] == "true"
    assert (float(falcon["latitude"]), float(falcon["longitude"])) != NEST_SITE
    assert float(falcon["accuracy_m"]) > 7000  # the 10 km cell's half-diagonal
    assert falcon["zone_code"] == "" and falcon["zone_name"] == ""
    assert world.pending["id"] not in public


def _public_export(db: Any, settings: Settings, kind: service.ExportFormat) -> str:
    """The command line's ``--public`` export (no viewer), the only export that is not staff's."""
    export = service.export(
        kind, db, settings, viewer=None, filters=export_filters(ObservationFilters()), base_url=""
    )
    return b"".join(export.pieces).decode("utf-8")


def test_excel_fr_dialect_opens_in_a_french_spreadsheet(
    client: TestClient, settings: Settings, world: World
) -> None:
    answer = _get(client, "/exports/observations.csv?dialect=excel-fr", world.ecologist, settings)
    raw = answer.content
    assert raw.startswith("\ufeff".encode())  # the byte-order mark Excel needs for UTF-8
    text = raw.decode("utf-8-sig")
    rows = {r["id"]: r for r in _csv(text, delimiter=";")}
    swallow = rows[world.swallow["id"]]
    assert swallow["latitude"] == str(LOOS[0]).replace(".", ",")
    assert swallow["accuracy_m"] == "8,0"
    assert swallow["generalised"] == "non"
    assert swallow["vernacular_name"] == "Hirondelle rustique"
    assert swallow["observer"] == "Mésange du Terril"


def test_filters_and_statuses(
    client: TestClient, session: Session, settings: Settings, world: World
) -> None:
    def ids(path: str, user: User | None = None) -> set[str]:
        return {r["id"] for r in _csv(_get(client, path, user or world.ecologist, settings).text)}

    species = world.swallow["species_id"]
    assert ids(f"/exports/observations.csv?species_id={species}") == {world.swallow["id"]}
    assert ids("/exports/observations.csv?year=2024") == set()
    # Pending data: only when asked for.
    assert world.pending["id"] not in ids("/exports/observations.csv")
    assert ids("/exports/observations.csv?status=pending") == {world.pending["id"]}
    assert ids("/exports/observations.csv?status=pending", world.admin) == {world.pending["id"]}
    assert ids("/exports/observations.csv?mine=true") == set()  # the ecologist recorded none
    # A deleted observation is never exported.
    client.delete(
        f"/observations/{world.swallow['id']}", headers=auth_headers(world.sentinel, settings)
    )
    assert world.swallow["id"] not in ids("/exports/observations.csv", world.ecologist)


def test_bad_filters_are_refused_before_anything_is_sent(
    client: TestClient, settings: Settings, world: World
) -> None:
    for path in (
        "/exports/observations.csv?year=1800",
        "/exports/observations.csv?dialect=excel",
        "/exports/observations.geojson?bbox=1,2,3",
        "/exports/sinp.csv?species_id=nope",
        "/exports/dwca.zip?status=unknown",
    ):
        answer = client.get(path, headers=auth_headers(world.ecologist, settings))
        assert answer.status_code == 422, path
        assert answer.headers["content-type"].startswith("application/problem+json")
        # Without a token, the answer says nothing of the filters: sign in first.
        assert client.get(path).status_code == 401, path


def test_an_export_of_many_rows_comes_in_several_pieces(
    client: TestClient, session: Session, settings: Settings
) -> None:
    load_reference_data(session)
    user = create_user(session, settings)
    headers = auth_headers(user, settings)
    items = [
        {
            "client_id": str(uuid.uuid4()),
            "cd_nom": SWALLOW,
            "observed_at": f"2025-05-{1 + i % 28:02d}T08:{i % 60:02d}:00+02:00",
            "latitude": LOOS[0] + i * 1e-5,
            "longitude": LOOS[1],
        }
        for i in range(450)
    ]
    for start in (0, 225):
        batch = {"observations": items[start : start + 225]}
        r = client.post("/observations/batch", json=batch, headers=headers)
        assert r.status_code in (200, 207), r.text
    session.execute(update(Observation).values(status="validated"))
    session.flush()
    staff = auth_headers(create_user(session, settings, role=Role.ecologist), settings)
    with client.stream("GET", "/exports/observations.csv", headers=staff) as answer:
        assert answer.status_code == 200
        body = b"".join(answer.iter_bytes())
    rows = _csv(body.decode())
    assert len(rows) == 450
    assert len({r["id"] for r in rows}) == 450
    # Keyset chunks of the reader and pieces of the writer: oldest first, none twice.
    assert [r["observed_at"] for r in rows] == sorted(r["observed_at"] for r in rows)
    pieces = list(tabular.csv_pieces((_row(i) for i in range(1200)), tz=settings.tz))
    assert len(pieces) == 3 and sum(p.count("\r\n") for p in pieces) == 1201


# --- GeoJSON ------------------------------------------------------------------------------------


def test_geojson_reads_back_with_shapely(
    client: TestClient, db: Any, settings: Settings, world: World
) -> None:
    answer = _get(client, "/exports/observations.geojson", world.ecologist, settings)
    assert answer.headers["content-type"] == "application/geo+json"
    doc = json.loads(answer.content)
    assert doc["type"] == "FeatureCollection"
    assert "crs" not in doc  # RFC 7946: WGS 84, always
    features = {f["id"]: f for f in doc["features"]}
    assert set(features) == {world.swallow["id"], world.martin_nests["id"], world.falcon["id"]}
    point = shapely.geometry.shape(features[world.swallow["id"]]["geometry"])
    assert point.geom_type == "Point" and point.is_valid
    assert (point.x, point.y) == (LOOS[1], LOOS[0])  # longitude first
    props = features[world.martin_nests["id"]]["properties"]
    assert (props["cd_nom"], props["count"], props["count_unit"]) == (HOUSE_MARTIN, 4, "nests")
    assert props["observer"] == "Mésange du Terril" and props["photos"] == []
    falcon = shapely.geometry.shape(features[world.falcon["id"]]["geometry"])
    assert features[world.falcon["id"]]["properties"]["generalised"] is False
    assert (falcon.y, falcon.x) == NEST_SITE  # staff see the sensitive species exactly
    public = json.loads(_public_export(db, settings, service.ExportFormat.geojson))
    hidden = {f["id"]: f for f in public["features"]}[world.falcon["id"]]
    assert hidden["properties"]["generalised"] is True
    assert tuple(reversed(hidden["geometry"]["coordinates"])) != NEST_SITE


def test_an_empty_geojson_is_a_valid_collection(
    client: TestClient, session: Session, settings: Settings
) -> None:
    load_reference_data(session)
    ecologist = create_user(session, settings, role=Role.ecologist)
    doc = _get(client, "/exports/observations.geojson", ecologist, settings).json()
    assert doc == {"type": "FeatureCollection", "features": []}


# --- SINP ---------------------------------------------------------------------------------------


def test_sinp_layout(client: TestClient, db: Any, settings: Settings, world: World) -> None:
    answer = _get(client, "/exports/sinp.csv", world.ecologist, settings)
    rows = {r["permId"]: r for r in _csv(answer.text, delimiter=";")}
    assert list(next(iter(rows.values()))) == list(tabular.SINP_COLUMNS)
    swallow = rows[world.swallow["id"]]
    assert swallow["statObs"] == "Pr" and swallow["statSource"] == "Te"
    assert (swallow["cdNom"], swallow["cdRef"]) == (str(SWALLOW), str(SWALLOW))
    assert swallow["nomCite"].startswith("Hirundo rustica")
    # As GeoNature writes them: the local date, and the local hour in a column of its own.
    assert swallow["dateDebut"] == swallow["dateFin"] == "2025-05-10"
    assert swallow["heureDebut"] == swallow["heureFin"] == "08:30"
    # Every coded column holds its nomenclature's code, not its label.
    assert swallow["obsTech"] == "0"  # METH_OBS « Vu »
    assert swallow["ocEtatBio"] == "1" and swallow["ocNat"] == "1"
    assert swallow["ocSex"] == "6" and swallow["ocStade"] == "0" and swallow["ocStatBio"] == "1"
    assert swallow["preuveOui"] == "2"  # no photo
    assert swallow["obsNomOrg"] == "Indépendant"  # a resident, on their own account
    assert swallow["precisGeo"] == "8"  # the GPS accuracy, in metres
    assert (swallow["denbrMin"], swallow["denbrMax"], swallow["objDenbr"]) == ("3", "3", "IND")
    assert swallow["typDenbr"] == "Co" and swallow["natObjGeo"] == "St"
    assert swallow["WKT"] == f"POINT({LOOS[1]} {LOOS[0]})"
    assert swallow["nivVal"] == "1" and swallow["sensiNiveau"] == "0"
    assert swallow["dEEFloutage"] == "NON" and swallow["diffusionNiveauPrecision"] == "5"
    assert swallow["jddMetaId"] == str(settings.dataset_uuid)  # no SINP dataset set
    assert swallow["dSPublique"] == settings.sinp_public_status
    assert swallow["versionTAXREF"]
    assert swallow["obsId"] == "Mésange du Terril"
    assert rows[world.martin_nests["id"]]["objDenbr"] == "NID"
    falcon = rows[world.falcon["id"]]  # sensitive, but staff get it exact
    assert falcon["sensiNiveau"] == "2" and falcon["dEEFloutage"] == "NON"
    assert falcon["diffusionNiveauPrecision"] == "5"
    assert falcon["WKT"] == f"POINT({NEST_SITE[1]} {NEST_SITE[0]})"
    public = {
        r["permId"]: r
        for r in _csv(_public_export(db, settings, service.ExportFormat.sinp), delimiter=";")
    }
    hidden = public[world.falcon["id"]]
    assert hidden["sensiNiveau"] == "2" and hidden["dEEFloutage"] == "OUI"
    assert hidden["diffusionNiveauPrecision"] == "2"
    shapely.wkt.loads(hidden["WKT"])
    assert hidden["WKT"] != falcon["WKT"]
    pending = {
        r["permId"]: r
        for r in _csv(
            _get(client, "/exports/sinp.csv?status=pending", world.ecologist, settings).text, ";"
        )
    }
    assert pending[world.pending["id"]]["nivVal"] == "0"


# --- the writers on their own: any text survives a round trip ------------------------------------

TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)


def _row(i: int, observer: str = "Camille", name: str = "Hirundo rustica") -> ObservationRow:
    from datetime import UTC, datetime, timedelta

    return ObservationRow(
        id=uuid.UUID(int=i + 1),
        observed_at=datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=i),
        taxon=Taxon(
            cd_nom=SWALLOW,
            cd_ref=SWALLOW,
            scientific_name=name,
            authority="Linnaeus, 1758",
            vernacular_name="Hirondelle rustique",
            rank="ES",
            kingdom="Animalia",
            group="bird",
            taxref_version="17.0",
            sensitive=False,
            generalisation="grid_10km",
        ),
        latitude=50.0 + i * 1e-6,
        longitude=2.5,
        accuracy_m=None,
        generalised=False,
        count=i,
        count_unit="individuals",
        zone_code=None,
        zone_name=None,
        status="validated",
        observer=observer,
        updated_at=datetime(2025, 1, 2, tzinfo=UTC),
        photos=(Photo("https://example.org/p/1", "CC-BY-4.0"),),
    )


@hypothesis_settings(max_examples=150, deadline=None)
@given(observer=TEXT, name=TEXT, dialect=st.sampled_from(tabular.DIALECTS))
def test_any_text_survives_the_csv_round_trip(observer: str, name: str, dialect: str) -> None:
    from zoneinfo import ZoneInfo

    text = "".join(
        tabular.csv_pieces([_row(1, observer, name)], tz=ZoneInfo("Europe/Paris"), dialect=dialect)
    )
    excel = dialect == "excel-fr"
    (row,) = _csv(text.removeprefix("\ufeff"), delimiter=";" if excel else ",")
    # Text that starts like a formula gets an apostrophe in both dialects, and only that text.
    starts = ("=", "+", "-", "@", "\t", "\r")
    assert row["observer"] == ("'" + observer if observer.startswith(starts) else observer)
    assert row["scientific_name"] == ("'" + name if name.startswith(starts) else name)
    geo = json.loads("".join(tabular.geojson_pieces([_row(1, observer, name)], tz=ZoneInfo("UTC"))))
    assert geo["features"][0]["properties"]["observer"] == observer


def test_reading_stops_when_the_client_stops_reading(
    client: TestClient, session: Session, settings: Settings, db: Any
) -> None:
    from sqlalchemy import event

    from app.exports import service
    from app.exports.rows import export_filters
    from app.observations.schemas import ObservationFilters

    load_reference_data(session)
    user = create_user(session, settings)
    headers = auth_headers(user, settings)
    for start in range(0, 2500, 500):
        batch = {
            "observations": [
                {
                    "client_id": str(uuid.uuid4()),
                    "cd_nom": SWALLOW,
                    "observed_at": f"2025-05-01T08:00:{i % 60:02d}+02:00",
                    "latitude": LOOS[0],
                    "longitude": LOOS[1],
                }
                for i in range(start, start + 500)
            ]
        }
        assert client.post("/observations/batch", json=batch, headers=headers).status_code in (
            200,
            207,
        )
    session.execute(update(Observation).values(status="validated"))
    session.flush()

    reads: list[str] = []

    def count_reads(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "FROM observation JOIN species" in statement:
            reads.append(statement)

    bind = db.bind.engine if hasattr(db.bind, "engine") else db.bind
    event.listen(bind, "before_cursor_execute", count_reads)
    try:
        filters = export_filters(ObservationFilters())
        export = service.export(
            service.ExportFormat.csv, db, settings, viewer=None, filters=filters, base_url=""
        )
        first = next(export.pieces)
        assert first.startswith(b"id,observed_at")
        export.pieces.close()  # what a client's disconnection does to the response's iterator
        assert len(reads) == 1  # one chunk of a thousand rows read, not 2,500 rows
        whole = service.export(
            service.ExportFormat.csv, db, settings, viewer=None, filters=filters, base_url=""
        )
        assert sum(piece.count(b"\r\n") for piece in whole.pieces) == 2501
        assert len(reads) == 1 + 3
    finally:
        event.remove(bind, "before_cursor_execute", count_reads)


# --- formula injection ---------------------------------------------------------------------------

FORMULAS = ('=HYPERLINK("http://x","y")', "+1", "@SUM(1)", "-2+3")
BREST = (48.3904, -4.4861)  # west of Greenwich: a negative longitude, a number, not a formula


def test_text_that_starts_like_a_formula_is_neutralised_in_every_csv(
    client: TestClient, session: Session, settings: Settings, world: World
) -> None:
    """Residents choose their pseudonyms: opened in a spreadsheet, an export must show them, not
    run them. Every CSV (both dialects, the SINP's) prefixes such text with an apostrophe;
    numbers, a negative longitude among them, stay numbers."""
    made: dict[str, str] = {}
    for name in FORMULAS:
        resident = create_user(session, settings)
        renamed = client.patch(
            "/me", json={"display_name": name}, headers=auth_headers(resident, settings)
        )
        assert renamed.status_code == 200, renamed.text
        made[_observe(client, resident, settings, SWALLOW, BREST)["id"]] = name
    _validate(session, *made)
    staff = world.ecologist

    def by_id(text: str, key: str, delimiter: str) -> dict[str, dict[str, str]]:
        return {r[key]: r for r in _csv(text, delimiter) if r[key] in made}

    plain = by_id(_get(client, "/exports/observations.csv", staff, settings).text, "id", ",")
    excel = by_id(
        _get(client, "/exports/observations.csv?dialect=excel-fr", staff, settings).content.decode(
            "utf-8-sig"
        ),
        "id",
        ";",
    )
    sinp = by_id(_get(client, "/exports/sinp.csv", staff, settings).text, "permId", ";")
    assert set(plain) == set(excel) == set(sinp) == set(made)
    for observation_id, name in made.items():
        assert plain[observation_id]["observer"] == "'" + name
        assert excel[observation_id]["observer"] == "'" + name
        assert sinp[observation_id]["obsId"] == sinp[observation_id]["detId"] == "'" + name
        # Numbers are left alone: the longitude is still a negative number in each dialect.
        assert plain[observation_id]["longitude"] == str(BREST[1])
        assert excel[observation_id]["longitude"] == str(BREST[1]).replace(".", ",")
        assert float(plain[observation_id]["longitude"]) < 0
        assert sinp[observation_id]["WKT"] == f"POINT({BREST[1]} {BREST[0]})"
        assert sinp[observation_id]["denbrMin"] == "1"
    # Text that only contains such characters further on is not touched.
    unchanged = _get(client, "/exports/observations.csv", staff, settings).text
    assert "Mésange du Terril" in unchanged and "'Mésange" not in unchanged


@pytest.mark.parametrize("path", EXPORTS)
def test_streamed_exports_are_sent_as_written_not_gzipped(
    client: TestClient, settings: Settings, world: World, path: str
) -> None:
    """Gzip over a streamed export would cost the server a core for bytes a client saves to
    disk (the archive is deflated already): exports go out as written, other answers stay
    compressed."""
    headers = {**auth_headers(world.ecologist, settings), "Accept-Encoding": "gzip"}
    answer = client.get(path, headers=headers)
    assert answer.status_code == 200
    assert "content-encoding" not in answer.headers
    listed = client.get("/openapi.json", headers={"Accept-Encoding": "gzip"})
    assert listed.headers["content-encoding"] == "gzip"
