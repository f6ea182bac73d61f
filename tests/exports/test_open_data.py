"""Open data: the archive as GBIF's streaming readers read it, the files checked against their
schemas, nobody published by an address, the local day everywhere, and ``POST
/exports/publish`` / ``GET /open-data`` serving a snapshot anyone may download."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import struct
import subprocess
import uuid
import zipfile
import zlib
from functools import cache
from pathlib import Path

import pytest
import xmlschema
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.accounts.models import User
from app.classes.models import SchoolClass
from app.core.settings import Settings
from app.core.vocabulary import Role
from app.exports import dwca
from app.zones.grid import CELL_1KM, CELL_10KM, generalise
from tests.exports.test_exports_dwca import (
    DC,
    DWC,
    FACADE_AT,
    FALCON_AT,
    GARDEN_AT,
    PEACOCK,
    SWALLOW,
    URN,
    Archive,
    World,
    build_world,
    jpeg,
    observe,
    point,
    post,
    read_archive,
    review,
)
from tests.factories import auth_headers, create_user

SCHEMAS = Path(__file__).parent.parent / "data" / "schemas"
JAVA_READER = Path(__file__).parent / "java" / "ZipStream.java"
CONTACT = "donnees@cpie-terrils.fr"
PSEUDONYM = re.compile(r"^Sentinelle [0-9a-f]{10}$")


@cache
def schema(name: str) -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(SCHEMAS / name))


def valid_against(xml: str, name: str) -> None:
    errors = [str(e.reason) for e in schema(name).iter_errors(xml)]
    assert not errors, errors[:3]


# --- streaming readers --------------------------------------------------------------------------


def walk_local_headers(data: bytes) -> dict[str, bytes]:
    """Read the zip as a streaming reader does: a local header, its data, its data descriptor
    when the header says the sizes come after, the next local header; never the central
    directory. Strict where Java's ZipInputStream is: no ZIP64 local header, a descriptor's
    32-bit sizes and CRC matching the data."""
    members: dict[str, bytes] = {}
    pos = 0
    while data[pos : pos + 4] == b"PK\x03\x04":
        _, flags, method, _, _, crc, csize, usize, name_len, extra_len = struct.unpack(
            "<HHHHHIIIHH", data[pos + 4 : pos + 30]
        )
        name = data[pos + 30 : pos + 30 + name_len].decode()
        extra = data[pos + 30 + name_len : pos + 30 + name_len + extra_len]
        ids, i = [], 0
        while i + 4 <= len(extra):
            header_id, size = struct.unpack("<HH", extra[i : i + 4])
            ids.append(header_id)
            i += 4 + size
        assert 0x0001 not in ids, f"{name}: a ZIP64 local header, which ZipInputStream refuses"
        assert method == zipfile.ZIP_DEFLATED, name
        start = pos + 30 + name_len + extra_len
        if flags & 0x08:  # sizes in a data descriptor after the data
            inflater = zlib.decompressobj(-15)
            content = inflater.decompress(data[start:])
            assert inflater.eof, name
            used = len(data) - start - len(inflater.unused_data)
            after = start + used
            if data[after : after + 4] == b"PK\x07\x08":
                after += 4
            crc, csize, usize = struct.unpack("<III", data[after : after + 12])
            assert (csize, usize) == (used, len(content)), name
            pos = after + 12
        else:
            content = zlib.decompress(data[start : start + csize], -15)
            assert usize == len(content), name
            pos = start + csize
        assert crc == zlib.crc32(content), name
        members[name] = content
    assert data[pos : pos + 4] == b"PK\x01\x02", "the central directory follows the members"
    return members


def java_reads(data: bytes, tmp_path: Path) -> dict[str, int] | None:
    """The members and their sizes as java.util.zip.ZipInputStream streams them; None when no
    Java is installed."""
    java = shutil.which("java")
    if java is None:
        return None
    path = tmp_path / f"{uuid.uuid4().hex}.zip"
    path.write_bytes(data)
    done = subprocess.run(
        [java, str(JAVA_READER), str(path)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return {
        name: int(size) for name, size in (line.split("\t") for line in done.stdout.splitlines())
    }


def streams(data: bytes, tmp_path: Path) -> None:
    """``data`` reads the same with zipfile, a strict walk of its local headers and Java."""
    with zipfile.ZipFile(io.BytesIO(data)) as plain:
        expected = {name: plain.read(name) for name in plain.namelist()}
    assert set(expected) >= {"meta.xml", "eml.xml", "event.txt", "occurrence.txt"}
    assert walk_local_headers(data) == expected
    read = java_reads(data, tmp_path)
    if read is not None:
        assert read == {name: len(content) for name, content in expected.items()}


def test_the_streamed_archive_reads_with_a_streaming_reader(
    client: TestClient, session: Session, settings: Settings, world: World, tmp_path: Path
) -> None:
    answer = client.get("/exports/dwca.zip", headers=auth_headers(world.ecologist, settings))
    assert answer.status_code == 200, answer.text
    streams(answer.content, tmp_path)
    if shutil.which("java") is None:
        pytest.skip("no java here: the local headers were checked, not ZipInputStream")


# --- no address published -----------------------------------------------------------------------


def test_an_address_as_display_name_is_never_published(
    client: TestClient, session: Session, settings: Settings, tmp_path: Path
) -> None:
    address = "jean.dupont@laposte.net"
    world = build_world(client, session, settings, pseudonym=address)
    staff = auth_headers(world.ecologist, settings)
    texts = {
        "dwca": "".join(read_archive(client.get("/exports/dwca.zip", headers=staff).content,
                                     tmp_path).texts.values()),
        "csv": client.get("/exports/observations.csv", headers=staff).text,
        "sinp": client.get("/exports/sinp.csv", headers=staff).text,
        "geojson": client.get("/exports/observations.geojson", headers=staff).text,
    }  # fmt: skip
    for kind, text in texts.items():
        assert address not in text and "jean.dupont" not in text, kind
    archive = read_archive(client.get("/exports/dwca.zip", headers=staff).content, tmp_path)
    recorded = {o[DWC + "recordedBy"] for o in archive.occurrences.values()}
    (pseudonym,) = recorded
    assert PSEUDONYM.match(pseudonym)
    rows = list(csv.DictReader(io.StringIO(texts["csv"])))
    assert {r["observer"] for r in rows} == {pseudonym}  # the same, stable, everywhere
    sinp = list(csv.DictReader(io.StringIO(texts["sinp"]), delimiter=";"))
    assert {r["obsId"] for r in sinp} == {pseudonym}
    # A phone number is no better a name.
    world.observer.display_name = "06 12 34 56 78"
    session.add(world.observer)
    session.commit()
    again = client.get("/exports/observations.csv", headers=staff).text
    assert "06 12 34 56 78" not in again
    assert {r["observer"] for r in csv.DictReader(io.StringIO(again))} == {pseudonym}


# --- the local day ------------------------------------------------------------------------------


def test_a_sighting_after_midnight_is_on_its_local_day_everywhere(
    client: TestClient, session: Session, settings: Settings, world: World, tmp_path: Path
) -> None:
    mine, staff = auth_headers(world.observer, settings), auth_headers(world.ecologist, settings)
    late = observe(
        client, mine, SWALLOW, (50.4590, 2.7800), observed_at="2025-07-01T00:30:00+02:00"
    )
    review(client, "observations", late, staff)
    archive = read_archive(client.get("/exports/dwca.zip", headers=staff).content, tmp_path)
    event = archive.events[URN + late["id"]]
    assert event[DWC + "eventDate"] == "2025-07-01T00:30:00+02:00"
    assert (event[DWC + "year"], event[DWC + "month"], event[DWC + "day"]) == ("2025", "7", "1")
    assert archive.occurrences[URN + late["id"]][DWC + "eventDate"] == event[DWC + "eventDate"]
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(
        client.get("/exports/observations.csv", headers=staff).text))}  # fmt: skip
    assert rows[late["id"]]["local_date"] == "2025-07-01"
    sinp = {r["permId"]: r for r in csv.DictReader(io.StringIO(
        client.get("/exports/sinp.csv", headers=staff).text), delimiter=";")}  # fmt: skip
    assert sinp[late["id"]]["dateDebut"] == "2025-07-01"
    assert sinp[late["id"]]["heureDebut"] == "00:30"


# --- publish and serve --------------------------------------------------------------------------


def validated_archive(data: bytes, tmp_path: Path) -> Archive:
    """The archive read by python-dwca-reader, its meta.xml checked against the Darwin Core
    text schema and its eml.xml against GBIF's metadata profile, streamed as Java does."""
    streams(data, tmp_path)
    archive = read_archive(data, tmp_path)
    valid_against(archive.texts["meta.xml"], "dwc-text.xsd")
    valid_against(archive.texts["eml.xml"], "gbif-eml-profile-1.1/eml.xsd")
    return archive


def test_the_staff_archive_passes_the_schemas(
    client: TestClient, settings: Settings, world: World, tmp_path: Path
) -> None:
    answer = client.get("/exports/dwca.zip", headers=auth_headers(world.ecologist, settings))
    archive = validated_archive(answer.content, tmp_path)
    names = {
        c.findtext("taxonRankValue")
        for c in archive.eml.iterfind("dataset/coverage/taxonomicCoverage/taxonomicClassification")
    }
    assert {"Hirundo rustica", "Delichon urbicum", "Falco peregrinus"} <= names


def test_publish_builds_a_snapshot_anyone_can_download(
    client: TestClient, session: Session, settings: Settings, world: World, tmp_path: Path
) -> None:
    staff = auth_headers(world.ecologist, settings)
    # The shipped placeholder contact is refused: nothing published, nothing served.
    refused = client.post("/exports/publish", headers=staff)
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "open_data.contact_placeholder"
    assert client.get("/open-data").json() == {
        "generated_at": None, "licence": None, "dataset_id": None, "files": [], "warnings": []
    }  # fmt: skip
    assert client.get("/open-data/dwca.zip").status_code == 404

    settings.dataset_contact_email = CONTACT
    sentinel = auth_headers(world.observer, settings)
    assert client.post("/exports/publish", headers=sentinel).status_code == 403
    assert client.post("/exports/publish").status_code == 401
    answer = client.post("/exports/publish", headers=staff)
    assert answer.status_code == 201, answer.text
    listing = client.get("/open-data").json()  # anonymous
    assert listing["files"] == answer.json()["files"]
    files = {f["name"]: f for f in listing["files"]}
    assert set(files) == {"dwca.zip", "observations.csv", "observations.geojson"}
    downloads = {}
    for name, described in files.items():
        got = client.get(f"/open-data/{name}")
        assert got.status_code == 200, name
        assert len(got.content) == described["size"] and got.headers["last-modified"]
        assert got.headers["etag"] == f'"{described["sha256"]}"'
        again = client.get(f"/open-data/{name}", headers={"If-None-Match": got.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
        downloads[name] = got.content

    archive = validated_archive(downloads["dwca.zip"], tmp_path)
    assert files["dwca.zip"]["records"] == len(archive.occurrences)
    everything = "".join(archive.texts.values())
    # Nobody named: every observer by the same kind of pseudonym, and only the contact's address.
    recorded = {o[DWC + "recordedBy"] for o in archive.occurrences.values()}
    assert len(recorded) == 1 and PSEUDONYM.match(recorded.pop())
    assert "Camille" not in everything and "example.org" not in everything
    assert archive.eml.findtext("dataset/contact/electronicMailAddress") == CONTACT
    # The protocols' visits, with their protocol and effort.
    for stored in world.visits.values():
        event = archive.events[URN + stored["id"]]
        assert event[DWC + "samplingProtocol"] and event[DWC + "sampleSizeValue"]
        assert event[DWC + "sampleSizeUnit"] == "minute"
    # A garden is a home: at its 1 km cell, and the record says so.
    garden = archive.events[URN + world.visits["garden-2025"]["id"]]
    latitude, longitude, radius = generalise(*GARDEN_AT, CELL_1KM)
    assert point(garden) == pytest.approx((latitude, longitude), abs=1e-3)
    assert float(garden[DWC + "coordinateUncertaintyInMeters"]) == pytest.approx(radius, abs=1)
    assert garden[DWC + "informationWithheld"] == dwca.HOME_WITHHELD
    assert garden[DWC + "footprintWKT"] == ""
    counted = archive.of_event(URN + world.visits["garden-2025"]["id"])
    assert {o[DWC + "dataGeneralizations"] for o in counted.values()} == {dwca.HOME_GENERALISED}
    assert f"{GARDEN_AT[0]:.5f}" not in everything
    # A façade is not a home: where it is.
    facade = archive.events[URN + world.visits["facade-2024"]["id"]]
    assert point(facade) == pytest.approx(FACADE_AT, abs=1e-5)
    assert facade[DWC + "informationWithheld"] == ""
    # The peregrine at its 10 km cell.
    falcon = archive.occurrences[URN + world.observations["falcon"]["id"]]
    latitude, longitude, radius = generalise(*FALCON_AT, CELL_10KM)
    assert point(falcon) == pytest.approx((latitude, longitude), abs=1e-3)
    assert falcon[DWC + "informationWithheld"] and falcon[DWC + "dataGeneralizations"]
    assert f"{FALCON_AT[0]:.4f}" not in everything
    assert URN + world.observations["pending"]["id"] not in archive.events  # validated only
    # The photo, under its own licence, by the observer's pseudonym.
    swallow = archive.occurrences[URN + world.observations["swallow"]["id"]]
    (photo,) = archive.media
    assert photo["coreid"] == URN + world.observations["swallow"]["id"]
    assert photo[DC + "license"] == dwca.LICENCES["CC-BY-4.0"][0]
    assert photo[DC + "creator"] == swallow[DWC + "recordedBy"]
    assert photo[DC + "identifier"].endswith(world.photo["url"].rsplit("/", 1)[-1])

    # The CSV and the GeoJSON hold the same sightings.
    rows = list(csv.DictReader(io.StringIO(downloads["observations.csv"].decode())))
    validated = {world.observations[n]["id"] for n in ("swallow", "nests", "falcon")}
    assert {r["id"] for r in rows} == validated
    assert files["observations.csv"]["records"] == len(rows)
    assert {r["observer"] for r in rows} == {swallow[DWC + "recordedBy"]}
    by_id = {r["id"]: r for r in rows}
    assert len(by_id[world.observations["falcon"]["id"]]["latitude"].partition(".")[2]) <= 3
    collection = json.loads(downloads["observations.geojson"])
    assert {f["id"] for f in collection["features"]} == validated

    # The previous snapshot stays until a third one replaces it.
    first = sorted(p.name for p in settings.open_data_dir.iterdir() if p.is_dir())
    assert client.post("/exports/publish", headers=staff).status_code == 201
    second = sorted(p.name for p in settings.open_data_dir.iterdir() if p.is_dir())
    assert len(second) == 2 and set(first) < set(second)
    assert client.post("/exports/publish", headers=staff).status_code == 201
    third = sorted(p.name for p in settings.open_data_dir.iterdir() if p.is_dir())
    assert len(third) == 2 and not set(first) & set(third)


@pytest.fixture
def world(client: TestClient, session: Session, settings: Settings) -> World:
    return build_world(client, session, settings)


# --- display names that give a contact away are refused -----------------------------------------


@pytest.mark.parametrize(
    "name", ["camille@laposte.net", "Camille (06 12 34 56 78)", "+33612345678", "Camille x@y"]
)
def test_a_display_name_that_is_an_address_is_refused_at_registration_and_edit(
    client: TestClient, session: Session, settings: Settings, world: World, name: str
) -> None:
    body = {"email": f"{uuid.uuid4().hex[:8]}@example.net", "password": "un mot de passe long"}
    answer = client.post("/auth/register", json={**body, "display_name": name})
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["code"] == "user.display_name_contact"
    fine = client.post("/auth/register", json={**body, "display_name": "Camille, rue 12"})
    assert fine.status_code == 201, fine.text
    mine = auth_headers(world.observer, settings)
    edit = client.patch("/me", json={"display_name": name}, headers=mine)
    assert edit.status_code == 422, edit.text
    assert edit.json()["errors"][0]["code"] == "user.display_name_contact"
    assert client.get("/me", headers=mine).json()["display_name"] == "Camille"


# --- credited by name, with consent -------------------------------------------------------------


def _registered(client: TestClient, name: str, **extra: object) -> tuple[dict[str, str], str]:
    """A resident registered through the API, signed in: their headers and their password."""
    email, password = f"{uuid.uuid4().hex[:10]}@example.net", "un mot de passe long"
    body = {"email": email, "password": password, "display_name": name, **extra}
    answer = client.post("/auth/register", json=body)
    assert answer.status_code == 201, answer.text
    assert answer.json()["credit_by_name"] is bool(extra.get("credit_by_name", False))
    token = client.post("/auth/token", data={"username": email, "password": password})
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}, password


def test_the_snapshot_names_only_the_observers_who_agreed(
    client: TestClient, session: Session, settings: Settings, world: World, tmp_path: Path
) -> None:
    staff = auth_headers(world.ecologist, settings)
    settings.dataset_contact_email = CONTACT
    # Bernadette agrees at registration; her sighting, its photo and her garden visit name her.
    bernadette, _ = _registered(client, "Bernadette Lefèvre", credit_by_name=True)
    seen = observe(client, bernadette, SWALLOW, (50.4570, 2.7850),
                   observed_at="2025-05-10T08:00:00+02:00")  # fmt: skip
    photo = client.post(
        f"/observations/{seen['id']}/photos",
        files={"file": ("hirondelle.jpg", jpeg(), "image/jpeg")},
        headers=bernadette,
    )
    assert photo.status_code == 201, photo.text
    garden = post(client, "/sites", bernadette, {
        "client_id": str(uuid.uuid4()), "kind": "garden", "name": "Jardin de la Fosse 9",
        "latitude": 50.4602, "longitude": 2.7711,
    })  # fmt: skip
    counted = post(client, f"/sites/{garden['id']}/visits", bernadette, {
        "client_id": str(uuid.uuid4()), "started_at": "2025-07-05T15:00:00+02:00",
        "duration_min": 20, "observers": 1, "complete": True,
        "counts": [{"cd_nom": PEACOCK, "count": 2}],
    })  # fmt: skip
    # Denis agreed, then deleted his account: his sighting stays, by a pseudonym.
    denis, password = _registered(client, "Denis Carpentier", credit_by_name=True)
    gone = observe(client, denis, SWALLOW, (50.4575, 2.7860),
                   observed_at="2025-05-11T08:00:00+02:00")  # fmt: skip
    # A class's account never is named, even if its row says yes; nor are its pupils.
    teacher = create_user(session, settings, role=Role.teacher, display_name="M. Lefebvre")
    opened = client.post(
        "/classes",
        json={"name": "CM1 B", "school": "École Basly", "school_year": "2025-2026"},
        headers=auth_headers(teacher, settings),
    )
    assert opened.status_code == 201, opened.text
    joined = client.post(
        "/classes/join", json={"join_code": opened.json()["join_code"], "pseudonym": "Renard"}
    )
    assert joined.status_code == 201, joined.text
    pupil = {"Authorization": f"Bearer {joined.json()['access_token']}"}
    by_pupil = observe(client, pupil, SWALLOW, (50.4585, 2.7830),
                       observed_at="2025-05-12T10:00:00+02:00")  # fmt: skip
    checked = client.post(
        f"/classes/{opened.json()['id']}/check",
        json={"ids": [by_pupil["id"]]},
        headers=auth_headers(teacher, settings),
    )
    assert checked.status_code == 200, checked.text
    class_account = session.get(SchoolClass, uuid.UUID(opened.json()["id"]))
    assert class_account is not None
    account = session.get(User, class_account.account_id)
    assert account is not None
    account.credit_by_name = True
    session.add(account)
    session.commit()
    for item in (seen, gone, by_pupil):
        review(client, "observations", item, staff)
    review(client, "visits", counted, staff)
    deleted = client.post("/me/delete", json={"password": password}, headers=denis)
    assert deleted.status_code == 204, deleted.text

    assert client.post("/exports/publish", headers=staff).status_code == 201
    archive = read_archive(client.get("/open-data/dwca.zip").content, tmp_path)
    recorded = {o["coreid"]: o[DWC + "recordedBy"] for o in archive.occurrences.values()}
    assert recorded[URN + seen["id"]] == "Bernadette Lefèvre"
    assert recorded[URN + counted["id"]] == "Bernadette Lefèvre"  # the visit's occurrence
    (credited,) = [m for m in archive.media if m["coreid"] == URN + seen["id"]]
    assert credited[DC + "creator"] == "Bernadette Lefèvre"
    # Camille (who did not choose), Denis (deleted) and the class: pseudonyms, three of them.
    camille = (world.observations["swallow"]["id"], world.visits["garden-2025"]["id"])
    others = {recorded[URN + i] for i in (*camille, gone["id"], by_pupil["id"])}
    assert all(PSEUDONYM.match(name) for name in others) and len(others) == 3
    everything = "".join(archive.texts.values())
    for name in ("Camille", "Denis", "Carpentier", "CM1 B", "Renard", "Participant anonyme"):
        assert name not in everything, name
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(
        client.get("/open-data/observations.csv").text))}  # fmt: skip
    assert rows[seen["id"]]["observer"] == "Bernadette Lefèvre"
    assert (
        rows[world.observations["swallow"]["id"]]["observer"]
        == recorded[URN + world.observations["swallow"]["id"]]
    )
    assert PSEUDONYM.match(rows[gone["id"]]["observer"])
    assert PSEUDONYM.match(rows[by_pupil["id"]]["observer"])
    geojson = client.get("/open-data/observations.geojson").text
    assert "Bernadette Lefèvre" in geojson and "Camille" not in geojson

    # Changing her mind: the next snapshot calls her by her pseudonym again.
    withdrawn = client.patch("/me", json={"credit_by_name": False}, headers=bernadette)
    assert withdrawn.status_code == 200 and withdrawn.json()["credit_by_name"] is False
    assert client.post("/exports/publish", headers=staff).status_code == 201
    again = client.get("/open-data/observations.csv").text
    assert "Bernadette" not in again
    archive = read_archive(client.get("/open-data/dwca.zip").content, tmp_path)
    assert "Bernadette" not in "".join(archive.texts.values())

    # The anonymous API never names her, whatever she chose.
    client.patch("/me", json={"credit_by_name": True}, headers=bernadette)
    for url in ("/observations?limit=500", f"/observations/{seen['id']}", "/open-data"):
        answer = client.get(url)
        assert answer.status_code == 200, (url, answer.text)
        assert "Bernadette" not in answer.text, url
