"""``GET /exports/dwca.zip``: the Darwin Core Archive as GBIF would read it, read back by an
independent reader (python-dwca-reader) and checked against what was stored: the survey visits
as events under their yearly campaigns, the counts and a complete visit's zeros, casual
observations as events of their own, sensitive species generalised for the public, and none of
the flags GBIF raises on a record."""

from __future__ import annotations

import io
import re
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

import pytest
from dwca.read import DwCAReader
from fastapi.testclient import TestClient
from PIL import Image
from sqlmodel import Session, col, select

from app.accounts.models import User
from app.core.settings import Settings
from app.core.vocabulary import Role
from app.exports import service
from app.exports.dwca import dwca_pieces
from app.exports.rows import (
    ObservationRow,
    Photo,
    Taxon,
    VisitCountRow,
    VisitRow,
    export_filters,
)
from app.observations.schemas import ObservationFilters
from app.species.models import Species
from app.zones.grid import CELL_10KM, generalise
from tests.factories import auth_headers, create_user

DWC = "http://rs.tdwg.org/dwc/terms/"
LICENSE = "http://purl.org/dc/terms/license"
EVENT, OCCURRENCE = DWC + "Event", DWC + "Occurrence"
MULTIMEDIA = "http://rs.gbif.org/terms/1.0/Multimedia"
DC = "http://purl.org/dc/terms/"

SWALLOW = 3696  # Hirondelle rustique
HOUSE_MARTIN = 459478  # Hirondelle de fenêtre
PEACOCK = 608364  # Paon-du-jour
SMALL_WHITE = 219831  # Piéride de la Rave
PEREGRINE = 2938  # Faucon pèlerin: sensitive, 10 km cell, in the shipped reference

FACADE_AT = (50.4580, 2.7801)
GARDEN_AT = (50.45715, 2.78525)
GARDEN_POLYGON = {
    "type": "Polygon",
    "coordinates": [
        [[2.7850, 50.4570], [2.7855, 50.4570], [2.7855, 50.4573], [2.7850, 50.4573],
         [2.7850, 50.4570]]
    ],
}  # fmt: skip
SWALLOW_AT = (50.4602, 2.7790)
NESTS_AT = (50.4555, 2.7870)
FALCON_AT = (50.4483, 2.7712)
PENDING_AT = (50.4611, 2.7655)
URN = "urn:uuid:"
TAXON_ID = re.compile(r"^https://inpn\.mnhn\.fr/espece/cd_nom/(\d+)$")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
# Metropolitan France, where every published position must fall (countryCode FR).
FRANCE = ((41.3, 51.1), (-5.2, 9.6))

EVENT_TERMS = {
    "eventID", "parentEventID", "eventDate", "year", "month", "day", "samplingProtocol",
    "sampleSizeValue", "sampleSizeUnit", "samplingEffort", "locationID", "decimalLatitude",
    "decimalLongitude", "coordinateUncertaintyInMeters", "geodeticDatum", "countryCode",
    "datasetID",
}  # fmt: skip
OCCURRENCE_TERMS = {
    "occurrenceID", "basisOfRecord", "scientificName", "taxonID", "taxonRank", "kingdom",
    "vernacularName", "eventDate", "individualCount", "organismQuantity", "organismQuantityType",
    "occurrenceStatus", "recordedBy", "identificationVerificationStatus", "associatedMedia",
    "informationWithheld", "dataGeneralizations",
}  # fmt: skip


# --- reading an archive back --------------------------------------------------------------------


@dataclass
class Archive:
    core_type: str
    extension_types: list[str]
    core_terms: set[str]
    occurrence_terms: set[str]
    events: dict[str, dict[str, str]]
    occurrences: dict[str, dict[str, str]]  # by occurrenceID, with the row's "coreid"
    media: list[dict[str, str]]  # the multimedia rows, with their "coreid"
    occurrence_lines: int
    orphans: dict[str, Any]
    eml: ET.Element
    texts: dict[str, str]

    def of_event(self, event_id: str) -> dict[str, dict[str, str]]:
        """The occurrences of an event, by cd_nom."""
        return {cd_nom(o): o for o in self.occurrences.values() if o["coreid"] == event_id}

    def records(self) -> Iterator[dict[str, str]]:
        yield from self.events.values()
        yield from self.occurrences.values()


def read_archive(data: bytes, tmp_path: Path) -> Archive:
    path = tmp_path / f"{uuid.uuid4().hex}.zip"
    path.write_bytes(data)
    with zipfile.ZipFile(io.BytesIO(data)) as plain:
        texts = {name: plain.read(name).decode("utf-8") for name in plain.namelist()}
    with DwCAReader(str(path)) as reader:
        events: dict[str, dict[str, str]] = {}
        occurrences: dict[str, dict[str, str]] = {}
        media: list[dict[str, str]] = []
        for row in reader:
            assert row.id not in events, f"event {row.id} twice"
            events[row.id] = dict(row.data)
            for extension in row.extensions:
                if extension.rowtype == MULTIMEDIA:
                    media.append({**extension.data, "coreid": extension.core_id})
                    continue
                assert extension.rowtype == OCCURRENCE
                occurrence = {**extension.data, "coreid": extension.core_id}
                assert occurrence[DWC + "occurrenceID"] not in occurrences
                occurrences[occurrence[DWC + "occurrenceID"]] = occurrence
        (extension_descriptor,) = [e for e in reader.descriptor.extensions if e.type == OCCURRENCE]
        archive = Archive(
            core_type=reader.descriptor.core.type,
            extension_types=[e.type for e in reader.descriptor.extensions],
            core_terms={t.rsplit("/", 1)[-1] for t in reader.descriptor.core.terms},
            occurrence_terms={t.rsplit("/", 1)[-1] for t in extension_descriptor.terms},
            events=events,
            occurrences=occurrences,
            media=media,
            occurrence_lines=len(texts["occurrence.txt"].splitlines()) - 1,
            orphans=reader.orphaned_extension_rows(),
            eml=ET.fromstring(texts["eml.xml"]),
            texts=texts,
        )
        assert reader.metadata is not None  # the reader found eml.xml through meta.xml
    return archive


def download(client: TestClient, headers: dict[str, str] | None) -> bytes:
    """The archive as the API gives it to staff (``headers``), or, with ``headers=None``, the
    public one ``sentinelles export --public`` writes: the API's exports are for staff only."""
    if headers is None:
        return public_archive(client)
    answer = client.get("/exports/dwca.zip", headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/zip"
    assert answer.headers["content-disposition"].endswith('dwca.zip"')
    return answer.content


def public_archive(client: TestClient) -> bytes:
    """What anyone may see, as the command line's ``--public`` export writes it (no viewer)."""
    app: Any = client.app
    export = service.export(
        service.ExportFormat.dwca,
        app.state.db,
        app.state.settings,
        viewer=None,
        filters=export_filters(ObservationFilters()),
        base_url="http://testserver",
    )
    return b"".join(export.pieces)


def cd_nom(occurrence: dict[str, str]) -> int:
    match = TAXON_ID.match(occurrence[DWC + "taxonID"])
    assert match, occurrence[DWC + "taxonID"]
    return int(match.group(1))


def point(record: dict[str, str]) -> tuple[float, float]:
    return float(record[DWC + "decimalLatitude"]), float(record[DWC + "decimalLongitude"])


def instant(value: str) -> str:
    """The local date-time with its offset, as the archive writes it."""
    return datetime.fromisoformat(value).astimezone(ZoneInfo("Europe/Paris")).isoformat()


# --- the data -----------------------------------------------------------------------------------


@dataclass
class World:
    observer: User
    ecologist: User
    sites: dict[str, dict[str, Any]]
    visits: dict[str, dict[str, Any]]
    observations: dict[str, dict[str, Any]]
    photo: dict[str, Any]


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (40, 120, 200)).save(out, format="JPEG")
    return out.getvalue()


def post(client: TestClient, url: str, headers: dict[str, str], body: dict[str, Any]) -> Any:
    answer = client.post(url, json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    return answer.json()


def review(client: TestClient, kind: str, item: dict[str, Any], headers: dict[str, str]) -> None:
    answer = client.post(
        f"/{kind}/{item['id']}/review", json={"decision": "validated"}, headers=headers
    )
    assert answer.status_code == 200, answer.text


def site(client: TestClient, headers: dict[str, str], **fields: Any) -> dict[str, Any]:
    return post(client, "/sites", headers, {"client_id": str(uuid.uuid4()), **fields})


def visit(
    client: TestClient, headers: dict[str, str], site_id: str, **fields: Any
) -> dict[str, Any]:
    body = {"client_id": str(uuid.uuid4()), **fields}
    return post(client, f"/sites/{site_id}/visits", headers, body)


def observe(
    client: TestClient, headers: dict[str, str], cd: int, at: tuple[float, float], **fields: Any
) -> dict[str, Any]:
    body = {
        "client_id": str(uuid.uuid4()),
        "cd_nom": cd,
        "latitude": at[0],
        "longitude": at[1],
        **fields,
    }
    return post(client, "/observations", headers, body)


def build_world(
    client: TestClient, session: Session, settings: Settings, *, pseudonym: str = "Camille"
) -> World:
    observer = create_user(session, settings, display_name=pseudonym)
    ecologist = create_user(session, settings, role=Role.ecologist, display_name="Élise")
    mine, staff = auth_headers(observer, settings), auth_headers(ecologist, settings)
    sites = {
        "facade": site(
            client,
            mine,
            kind="nest_site",
            name="Façades de la rue Jean Jaurès",
            latitude=FACADE_AT[0],
            longitude=FACADE_AT[1],
        ),
        "garden": site(
            client,
            mine,
            kind="garden",
            name="Jardin des Tilleuls",
            latitude=GARDEN_AT[0],
            longitude=GARDEN_AT[1],
            geometry=GARDEN_POLYGON,
        ),
    }
    facade, garden = sites["facade"]["id"], sites["garden"]["id"]
    visits = {
        "facade-2024": visit(
            client,
            mine,
            facade,
            started_at="2024-06-10T09:30:00+02:00",
            duration_min=30,
            observers=2,
            complete=True,
            counts=[
                {"cd_nom": HOUSE_MARTIN, "occupied": 5, "unoccupied": 1, "artificial": False},
                {"cd_nom": HOUSE_MARTIN, "occupied": 1, "artificial": True},
                {"cd_nom": SWALLOW, "occupied": 2},
            ],
        ),
        # Complete, and no swallow this time: the swallow was absent.
        "facade-2025": visit(
            client,
            mine,
            facade,
            started_at="2025-06-12T09:00:00+02:00",
            duration_min=45,
            observers=1,
            complete=True,
            counts=[{"cd_nom": HOUSE_MARTIN, "occupied": 3}],
        ),
        # Not complete: a species it did not count says nothing.
        "facade-2025-partial": visit(
            client,
            mine,
            facade,
            started_at="2025-07-01T10:00:00+02:00",
            duration_min=15,
            observers=1,
            complete=False,
            counts=[{"cd_nom": HOUSE_MARTIN, "occupied": 4}],
        ),
        "garden-2025": visit(
            client,
            mine,
            garden,
            started_at="2025-07-04T14:00:00+02:00",
            duration_min=20,
            observers=1,
            complete=True,
            counts=[{"cd_nom": PEACOCK, "count": 4}, {"cd_nom": SMALL_WHITE, "count": 2}],
        ),
    }
    for item in visits.values():
        review(client, "visits", item, staff)
    observations = {
        "swallow": observe(
            client,
            mine,
            SWALLOW,
            SWALLOW_AT,
            observed_at="2025-05-03T07:45:00+02:00",
            accuracy_m=12,
            count=3,
        ),
        "nests": observe(
            client,
            mine,
            HOUSE_MARTIN,
            NESTS_AT,
            observed_at="2025-06-01T18:10:00+02:00",
            count=2,
            count_unit="nests",
        ),
        "falcon": observe(
            client,
            mine,
            PEREGRINE,
            FALCON_AT,
            observed_at="2025-04-20T11:00:00+02:00",
            accuracy_m=5,
        ),
        "pending": observe(
            client, mine, SWALLOW, PENDING_AT, observed_at="2025-05-04T08:00:00+02:00"
        ),
    }
    answer = client.post(
        f"/observations/{observations['swallow']['id']}/photos",
        files={"file": ("hirondelle.jpg", jpeg(), "image/jpeg")},
        headers=mine,
    )
    assert answer.status_code == 201, answer.text
    for name in ("swallow", "nests", "falcon"):
        review(client, "observations", observations[name], staff)
    return World(observer, ecologist, sites, visits, observations, answer.json())


@pytest.fixture
def world(client: TestClient, session: Session, settings: Settings) -> World:
    return build_world(client, session, settings)


def species(session: Session, cd: int) -> Species:
    return session.exec(select(Species).where(col(Species.cd_nom) == cd)).one()


def campaign(settings: Settings, year: int, kind: str) -> str:
    return f"sentinelles:{settings.dataset_uuid}:campaign:{year}:{kind}"


# --- 1. the archive holds what was stored -------------------------------------------------------


def test_the_archive_read_back_holds_the_stored_data(
    client: TestClient, session: Session, settings: Settings, world: World, tmp_path: Path
) -> None:
    archive = read_archive(download(client, auth_headers(world.ecologist, settings)), tmp_path)

    assert archive.core_type == EVENT
    assert archive.extension_types == [OCCURRENCE, MULTIMEDIA]
    assert archive.core_terms >= EVENT_TERMS
    assert archive.occurrence_terms >= OCCURRENCE_TERMS
    assert not any(archive.orphans.values()), archive.orphans
    assert all(o["coreid"] in archive.events for o in archive.occurrences.values())
    assert archive.occurrence_lines == len(archive.occurrences)  # none lost on the way

    # Survey visits: events under their yearly campaign, the site as their location.
    facade, garden = world.sites["facade"], world.sites["garden"]
    for name, stored in world.visits.items():
        event = archive.events[URN + stored["id"]]
        # The territory's local time with its offset, as every other export's day.
        start = datetime.fromisoformat(stored["started_at"]).astimezone(settings.tz)
        end = start + timedelta(minutes=stored["duration_min"])
        assert event[DWC + "eventDate"] == f"{start.isoformat()}/{end.isoformat()}"
        assert event[DWC + "year"] == str(start.year)
        assert event[DWC + "month"] == str(start.month)
        assert event[DWC + "day"] == str(start.day)
        assert event[DWC + "sampleSizeValue"] == str(stored["duration_min"])
        assert event[DWC + "sampleSizeUnit"] == "minute"
        observers = stored["observers"]
        assert event[DWC + "samplingEffort"] == (
            f"{observers} observer{'s' if observers > 1 else ''} x {stored['duration_min']} minutes"
        )
        where = facade if name.startswith("facade") else garden
        kind = where["kind"]
        assert event[DWC + "locationID"] == URN + where["id"]
        assert point(event) == pytest.approx((where["latitude"], where["longitude"]), abs=1e-7)
        parent = archive.events[event[DWC + "parentEventID"]]
        assert event[DWC + "parentEventID"] == campaign(settings, start.year, kind)
        assert parent[DWC + "eventDate"] == str(start.year)
        assert parent[DWC + "parentEventID"] == ""
        assert parent[DWC + "samplingProtocol"] == event[DWC + "samplingProtocol"]
    protocols = {
        archive.events[URN + world.visits[name]["id"]][DWC + "samplingProtocol"]
        for name in ("facade-2024", "garden-2025")
    }
    assert len(protocols) == 2 and all("count" in p.lower() for p in protocols)
    # The façade is the same location in 2024 and 2025: a time series.
    assert {
        archive.events[URN + world.visits[name]["id"]][DWC + "locationID"]
        for name in ("facade-2024", "facade-2025", "facade-2025-partial")
    } == {URN + facade["id"]}
    # One campaign per year and protocol that has visits, and nothing else without a parent.
    campaigns = {i for i, e in archive.events.items() if e[DWC + "eventID"].count(":campaign:")}
    assert campaigns == {
        campaign(settings, 2024, "nest_site"),
        campaign(settings, 2025, "nest_site"),
        campaign(settings, 2025, "garden"),
    }
    garden_event = archive.events[URN + world.visits["garden-2025"]["id"]]
    assert "Tilleuls" not in garden_event[DWC + "locality"]  # a garden is a home

    # The counts: nests on the façade, individuals in the garden.
    martin, swallow = species(session, HOUSE_MARTIN), species(session, SWALLOW)
    first = archive.of_event(URN + world.visits["facade-2024"]["id"])
    assert set(first) == {HOUSE_MARTIN, SWALLOW}
    assert first[HOUSE_MARTIN][DWC + "organismQuantity"] == "6"  # natural and artificial
    assert first[HOUSE_MARTIN][DWC + "organismQuantityType"] == "nests"
    assert first[HOUSE_MARTIN][DWC + "individualCount"] == ""
    assert first[HOUSE_MARTIN][DWC + "occurrenceStatus"] == "present"
    assert first[SWALLOW][DWC + "organismQuantity"] == "2"
    assert first[HOUSE_MARTIN][DWC + "scientificName"] == f"Delichon urbicum {martin.authority}"
    assert first[SWALLOW][DWC + "vernacularName"] == swallow.vernacular_name
    assert first[SWALLOW][DWC + "recordedBy"] == "Camille"
    assert (
        first[SWALLOW][DWC + "eventDate"]
        == archive.events[first[SWALLOW]["coreid"]][DWC + "eventDate"]
    )
    garden_counts = archive.of_event(URN + world.visits["garden-2025"]["id"])
    assert {c: o[DWC + "individualCount"] for c, o in garden_counts.items()} == {
        PEACOCK: "4",
        SMALL_WHITE: "2",
    }
    assert {o[DWC + "organismQuantityType"] for o in garden_counts.values()} == {""}
    # Stable occurrence ids: the same in a second export.
    again = read_archive(download(client, auth_headers(world.ecologist, settings)), tmp_path)
    assert set(again.occurrences) == set(archive.occurrences)

    # Casual observations: an event of their own.
    seen = world.observations["swallow"]
    event = archive.events[URN + seen["id"]]
    assert event[DWC + "eventDate"] == instant(seen["observed_at"]) == "2025-05-03T07:45:00+02:00"
    assert event[DWC + "parentEventID"] == "" and event[DWC + "locationID"] == ""
    assert "opportunistic" in event[DWC + "samplingProtocol"].lower()
    assert point(event) == pytest.approx(SWALLOW_AT, abs=1e-7)
    assert event[DWC + "coordinateUncertaintyInMeters"] == "12"
    (occurrence,) = archive.of_event(URN + seen["id"]).values()
    assert occurrence[DWC + "occurrenceID"] == URN + seen["id"]
    assert cd_nom(occurrence) == SWALLOW
    assert occurrence[DWC + "scientificName"] == "Hirundo rustica Linnaeus, 1758"
    assert occurrence[DWC + "taxonRank"] == "species"
    assert occurrence[DWC + "kingdom"] == "Animalia"
    assert occurrence[DWC + "vernacularName"] == swallow.vernacular_name
    assert occurrence[DWC + "eventDate"] == event[DWC + "eventDate"]
    assert point(occurrence) == point(event)
    assert occurrence[DWC + "individualCount"] == "3"
    assert occurrence[DWC + "occurrenceStatus"] == "present"
    assert occurrence[DWC + "recordedBy"] == "Camille"
    assert occurrence[DWC + "identificationVerificationStatus"] == "verified"
    assert occurrence[DWC + "associatedMedia"].endswith(world.photo["url"])
    # The photo in the multimedia extension, under its own licence and by its creator.
    (photo,) = [m for m in archive.media if m["coreid"] == URN + seen["id"]]
    assert photo[DC + "identifier"].endswith(world.photo["url"])
    assert photo[DC + "type"] == "StillImage" and photo[DC + "format"] == "image/jpeg"
    assert photo[DC + "license"] == "https://creativecommons.org/licenses/by/4.0/legalcode"
    assert photo[DC + "creator"] == "Camille"
    assert photo[DC + "publisher"] == settings.dataset_publisher
    assert occurrence[DWC + "informationWithheld"] == ""
    nests = archive.occurrences[URN + world.observations["nests"]["id"]]
    assert nests[DWC + "organismQuantity"] == "2"
    assert nests[DWC + "organismQuantityType"] == "nests"
    assert nests[DWC + "individualCount"] == ""
    # Sent without its accuracy: the documented default, never 0.
    assert nests[DWC + "coordinateUncertaintyInMeters"] == "100"
    assert URN + world.observations["pending"]["id"] not in archive.events  # validated only

    # eml.xml: who, what, under which licence, where.
    eml = archive.eml
    assert eml.get("packageId") == str(settings.dataset_uuid)
    assert eml.findtext("dataset/title") == settings.dataset_title
    assert eml.findtext("dataset/language") == "fr"
    assert eml.findtext("dataset/abstract/para") == settings.dataset_abstract
    assert eml.findtext("dataset/creator/organizationName") == settings.dataset_publisher
    assert eml.findtext("dataset/contact/electronicMailAddress") == settings.dataset_contact_email
    contact = eml.find("dataset/contact")
    assert contact is not None
    assert settings.dataset_contact_name in {
        contact.findtext("organizationName"),
        contact.findtext("individualName/surName"),
    }
    assert eml.findtext("dataset/pubDate") == datetime.now(UTC).date().isoformat()
    link = eml.find("dataset/intellectualRights/para/ulink")
    assert link is not None
    assert link.get("url") == "https://creativecommons.org/licenses/by/4.0/legalcode"
    assert "CC-BY 4.0" in (link.findtext("citetitle") or "")
    assert eml.findtext("dataset/methods/methodStep/description/para")
    box = eml.find("dataset/coverage/geographicCoverage/boundingCoordinates")
    assert box is not None
    west, east, north, south = (
        float(box.findtext(f"{side}BoundingCoordinate") or "nan")
        for side in ("west", "east", "north", "south")
    )
    positions = [point(e) for e in archive.events.values()]
    assert south == pytest.approx(min(p[0] for p in positions))
    assert north == pytest.approx(max(p[0] for p in positions))
    assert west == pytest.approx(min(p[1] for p in positions))
    assert east == pytest.approx(max(p[1] for p in positions))
    assert settings.territory_name in (
        eml.findtext("dataset/coverage/geographicCoverage/geographicDescription") or ""
    )


# --- 2. nothing GBIF would flag -----------------------------------------------------------------


def _dates(value: str) -> list[datetime]:
    parts = value.split("/")
    out = []
    for part in parts:
        if re.fullmatch(r"\d{4}", part):
            out.append(datetime(int(part), 1, 1, tzinfo=UTC))
        else:
            out.append(datetime.fromisoformat(part.replace("Z", "+00:00")))
    return out


def no_zero_coordinate(archive: Archive, session: Session, settings: Settings) -> None:
    for record in archive.records():
        latitude, longitude = point(record)  # filled everywhere
        assert latitude != 0 and longitude != 0, record


def coordinates_in_range(archive: Archive, session: Session, settings: Settings) -> None:
    for record in archive.records():
        latitude, longitude = point(record)
        assert -90 <= latitude <= 90 and -180 <= longitude <= 180, record


def coordinates_not_swapped(archive: Archive, session: Session, settings: Settings) -> None:
    (south, north), (west, east) = FRANCE
    for record in archive.records():
        latitude, longitude = point(record)
        assert south <= latitude <= north and west <= longitude <= east, record
        assert record[DWC + "countryCode"] == "FR"
        assert record[DWC + "geodeticDatum"] == "EPSG:4326"
    for occurrence in archive.occurrences.values():
        assert point(occurrence) == point(archive.events[occurrence["coreid"]])


def uncertainty_valid(archive: Archive, session: Session, settings: Settings) -> None:
    for record in archive.records():
        assert float(record[DWC + "coordinateUncertaintyInMeters"]) > 0, record


def no_date_in_the_future(archive: Archive, session: Session, settings: Settings) -> None:
    now = datetime.now(UTC)
    for record in archive.records():
        dates = _dates(record[DWC + "eventDate"])
        assert all(datetime(1900, 1, 1, tzinfo=UTC) < d <= now for d in dates), record
        assert dates == sorted(dates)
    for event in archive.events.values():
        if event[DWC + "year"]:
            assert int(event[DWC + "year"]) == _dates(event[DWC + "eventDate"])[0].year


def taxon_matched(archive: Archive, session: Session, settings: Settings) -> None:
    assert archive.occurrences
    for occurrence in archive.occurrences.values():
        reference = species(session, cd_nom(occurrence))
        name = reference.scientific_name
        if reference.authority:
            name = f"{name} {reference.authority}"
        assert occurrence[DWC + "scientificName"] == name
        assert occurrence[DWC + "taxonRank"] == "species"
        assert occurrence[DWC + "kingdom"] == "Animalia"


def count_matches_status(archive: Archive, session: Session, settings: Settings) -> None:
    for occurrence in archive.occurrences.values():
        status = occurrence[DWC + "occurrenceStatus"]
        individuals = occurrence[DWC + "individualCount"]
        quantity = occurrence[DWC + "organismQuantity"]
        assert individuals or quantity, occurrence
        if status == "absent":
            assert individuals == "0" and quantity in ("", "0"), occurrence
        else:
            assert status == "present", occurrence
            assert individuals == "" or int(individuals) > 0, occurrence
            assert quantity == "" or float(quantity) > 0, occurrence


def basis_of_record(archive: Archive, session: Session, settings: Settings) -> None:
    for occurrence in archive.occurrences.values():
        assert occurrence[DWC + "basisOfRecord"] == "HumanObservation"


def one_licence(archive: Archive, session: Session, settings: Settings) -> None:
    url = "https://creativecommons.org/licenses/by-nc/4.0/legalcode"
    assert {record[LICENSE] for record in archive.records()} == {url}
    link = archive.eml.find("dataset/intellectualRights/para/ulink")
    assert link is not None and link.get("url") == url


FLAGS: dict[str, Callable[[Archive, Session, Settings], None]] = {
    "ZERO_COORDINATE": no_zero_coordinate,
    "COORDINATE_OUT_OF_RANGE": coordinates_in_range,
    "PRESUMED_SWAPPED_COORDINATE": coordinates_not_swapped,
    "COORDINATE_UNCERTAINTY_METERS_INVALID": uncertainty_valid,
    "RECORDED_DATE_UNLIKELY": no_date_in_the_future,
    "TAXON_MATCH_NONE": taxon_matched,
    "INDIVIDUAL_COUNT_CONFLICTS_WITH_OCCURRENCE_STATUS": count_matches_status,
    "BASIS_OF_RECORD_INVALID": basis_of_record,
    "one licence, the settings' one": one_licence,
}


@pytest.mark.parametrize("flag", list(FLAGS))
def test_gbif_would_raise_no_flag(
    flag: str,
    client: TestClient,
    session: Session,
    settings: Settings,
    world: World,
    tmp_path: Path,
) -> None:
    settings.dataset_licence = "CC-BY-NC-4.0"
    for headers, visits in ((auth_headers(world.ecologist, settings), True), (None, False)):
        archive = read_archive(download(client, headers), tmp_path)
        # The checks read every record: the archive must hold the world's, or they would pass
        # on nothing. Staff get the survey visits and their counts, everyone the observations.
        validated = ("swallow", "nests", "falcon")
        assert {URN + world.observations[n]["id"] for n in validated} <= archive.occurrences.keys()
        counted = {URN + v["id"] for v in world.visits.values()} & archive.events.keys()
        assert bool(counted) is visits
        FLAGS[flag](archive, session, settings)


# --- 3. sensitive species -----------------------------------------------------------------------


def test_a_sensitive_species_is_generalised_for_the_public_only(
    client: TestClient, settings: Settings, world: World, tmp_path: Path
) -> None:
    falcon = URN + world.observations["falcon"]["id"]
    # The public archive is the command line's (``--public``): the API's is for staff only.
    public = read_archive(download(client, None), tmp_path)
    assert not any(e[DWC + "samplingProtocol"].startswith("Nest") for e in public.events.values())
    occurrence = public.occurrences[falcon]
    assert occurrence[DWC + "informationWithheld"] == (
        "Precise coordinates withheld: sensitive species"
    )
    assert occurrence[DWC + "dataGeneralizations"] == (
        "Coordinates generalised to the 10 km Lambert-93 grid cell"
    )
    # The casual sighting's event says it too (a reader of the core alone must know).
    assert (
        public.events[falcon][DWC + "informationWithheld"]
        == occurrence[DWC + "informationWithheld"]
    )
    latitude, longitude, radius = generalise(*FALCON_AT, CELL_10KM)
    for record in (occurrence, public.events[falcon]):
        # The cell's centre to the hundred metres its 7 km uncertainty supports.
        assert point(record) == pytest.approx((latitude, longitude), abs=1e-3)
        assert len(record[DWC + "decimalLatitude"].partition(".")[2]) <= 3
        assert float(record[DWC + "coordinateUncertaintyInMeters"]) == pytest.approx(radius)
    exact = (f"{FALCON_AT[0]:.4f}", f"{FALCON_AT[1]:.4f}")
    assert not any(v in text for text in public.texts.values() for v in exact)
    # Not sensitive: exact, and no note.
    swallow = public.occurrences[URN + world.observations["swallow"]["id"]]
    assert point(swallow) == pytest.approx(SWALLOW_AT, abs=1e-7)
    assert swallow[DWC + "informationWithheld"] == swallow[DWC + "dataGeneralizations"] == ""

    staff = read_archive(download(client, auth_headers(world.ecologist, settings)), tmp_path)
    occurrence = staff.occurrences[falcon]
    assert point(occurrence) == pytest.approx(FALCON_AT, abs=1e-7)
    assert point(staff.events[falcon]) == pytest.approx(FALCON_AT, abs=1e-7)
    assert occurrence[DWC + "coordinateUncertaintyInMeters"] == "5"
    assert occurrence[DWC + "informationWithheld"] == ""
    assert occurrence[DWC + "dataGeneralizations"] == ""


# --- 4. a complete visit's zeros ----------------------------------------------------------------


def test_a_complete_visits_missing_species_are_absent_with_count_zero(
    client: TestClient, settings: Settings, world: World, tmp_path: Path
) -> None:
    archive = read_archive(download(client, auth_headers(world.ecologist, settings)), tmp_path)
    complete = archive.of_event(URN + world.visits["facade-2025"]["id"])
    assert set(complete) == {HOUSE_MARTIN, SWALLOW}
    assert complete[HOUSE_MARTIN][DWC + "occurrenceStatus"] == "present"
    assert complete[HOUSE_MARTIN][DWC + "organismQuantity"] == "3"
    absent = complete[SWALLOW]
    assert absent[DWC + "occurrenceStatus"] == "absent"
    assert absent[DWC + "individualCount"] == "0"
    assert absent[DWC + "organismQuantity"] == "0"
    assert absent[DWC + "organismQuantityType"] == "nests"
    assert absent[DWC + "recordedBy"] == "Camille"
    assert absent[DWC + "scientificName"].startswith("Hirundo rustica")
    # An incomplete visit says nothing of what it did not count.
    partial = archive.of_event(URN + world.visits["facade-2025-partial"]["id"])
    assert set(partial) == {HOUSE_MARTIN}
    absences = [o for o in archive.occurrences.values() if o[DWC + "occurrenceStatus"] == "absent"]
    assert [o["coreid"] for o in absences] == [URN + world.visits["facade-2025"]["id"]]


# --- 5. observers by pseudonym, and odd characters ----------------------------------------------


def test_no_email_and_odd_pseudonyms_keep_their_columns(
    client: TestClient, session: Session, settings: Settings, tmp_path: Path
) -> None:
    odd = "Jean\tLuc\r\nDupont\u2028de\x0bLens"
    world = build_world(client, session, settings, pseudonym=odd)
    mine = auth_headers(world.observer, settings)
    tabbed = site(
        client,
        mine,
        kind="nest_site",
        name="Rue des\tLilas\n(côté pair)",
        latitude=FACADE_AT[0] + 0.001,
        longitude=FACADE_AT[1],
    )
    counted = visit(
        client,
        mine,
        tabbed["id"],
        started_at="2025-06-20T09:00:00+02:00",
        duration_min=30,
        complete=True,
        counts=[{"cd_nom": SWALLOW, "occupied": 1}],
    )
    review(client, "visits", counted, auth_headers(world.ecologist, settings))

    for headers in (auth_headers(world.ecologist, settings), None):
        archive = read_archive(download(client, headers), tmp_path)
        emails = {m.group(0) for text in archive.texts.values() for m in EMAIL.finditer(text)}
        assert emails == {settings.dataset_contact_email}  # the dataset's contact, nobody else
        assert world.observer.email not in "".join(archive.texts.values())
        for name in ("event.txt", "occurrence.txt"):
            header, *lines = archive.texts[name].split("\n")
            assert lines[-1] == ""  # every line ends with a line feed
            width = header.count("\t")
            assert all(line.count("\t") == width for line in lines[:-1]), name
            assert "\r" not in archive.texts[name]
        recorded = {o[DWC + "recordedBy"] for o in archive.occurrences.values()}
        assert recorded == {"Jean Luc  Dupont de Lens"}
    staff = read_archive(download(client, auth_headers(world.ecologist, settings)), tmp_path)
    event = staff.events[URN + counted["id"]]
    assert event[DWC + "locality"] == "Rue des Lilas (côté pair)"
    assert point(event) == pytest.approx((FACADE_AT[0] + 0.001, FACADE_AT[1]), abs=1e-7)


# --- 6. streamed --------------------------------------------------------------------------------


def test_the_archive_is_streamed_in_pieces(settings: Settings, tmp_path: Path) -> None:
    """Thousands of rows come out as many pieces, the first ones before the rows are all read,
    and joined they are a valid archive."""
    generated_at = datetime(2025, 12, 1, tzinfo=UTC)
    swallow = Taxon(
        cd_nom=SWALLOW,
        cd_ref=SWALLOW,
        scientific_name="Hirundo rustica",
        authority="Linnaeus, 1758",
        vernacular_name="Hirondelle rustique",
        rank="ES",
        kingdom=None,
        group="bird",
        taxref_version=None,
        sensitive=False,
        generalisation="grid_10km",
    )
    rows = 3000
    read = {"observations": 0, "visits": 0}
    calls = {"observations": 0, "visits": 0}

    def observations() -> Iterator[ObservationRow]:
        calls["observations"] += 1
        for n in range(rows):
            read["observations"] += 1
            yield ObservationRow(
                id=uuid.UUID(int=n + 1),
                observed_at=datetime(2025, 4, 1, 6, tzinfo=UTC) + timedelta(minutes=37 * n),
                taxon=swallow,
                latitude=50.44 + (n % 97) / 10_000,
                longitude=2.76 + (n % 89) / 10_000,
                accuracy_m=float(n % 40),
                generalised=False,
                count=1 + n % 5,
                count_unit="individuals",
                zone_code="62528",
                zone_name="Loos-en-Gohelle",
                status="validated",
                observer=f"Sentinelle {n % 13}",
                updated_at=datetime(2025, 11, 1, tzinfo=UTC),
                photos=(Photo(url=f"https://example.org/photos/{n}", licence="CC-BY-4.0"),),
            )

    def visits() -> Iterator[VisitRow]:
        calls["visits"] += 1
        for n in range(300):
            read["visits"] += 1
            yield VisitRow(
                id=uuid.UUID(int=10**9 + n),
                site_id=uuid.UUID(int=10**10 + n % 20),
                site_kind="nest_site",
                site_name=f"Façade {n % 20}",
                site_code=None,
                latitude=50.45,
                longitude=2.78,
                geometry=None,
                zone_code=None,
                started_at=datetime(2021 + n % 5, 6, 1, 8, tzinfo=UTC) + timedelta(hours=n),
                duration_min=30,
                observers=2,
                complete=True,
                status="validated",
                observer="Camille",
                counts=(VisitCountRow(swallow, n % 4),),
            )

    pieces = []
    seen_when_first = None
    for piece in dwca_pieces(observations, visits, settings=settings, generated_at=generated_at):
        if len(pieces) == 1:
            seen_when_first = dict(read)
        pieces.append(piece)
    # The observations read once (their occurrences spooled while their events are written),
    # the visits once per file.
    assert calls == {"observations": 1, "visits": 2}
    assert len(pieces) > 5
    assert seen_when_first is not None and seen_when_first["observations"] < rows
    data = b"".join(pieces)
    assert max(len(p) for p in pieces) < len(data) / 3
    archive = read_archive(data, tmp_path)
    assert len(archive.events) == rows + 300 + 5  # observations, visits, five campaigns
    assert len(archive.media) == rows  # a photo each
    assert len(archive.occurrences) == archive.occurrence_lines == rows + 300
    assert not any(archive.orphans.values())
    absent = [o for o in archive.occurrences.values() if o[DWC + "occurrenceStatus"] == "absent"]
    assert len(absent) == 75 and all(o[DWC + "individualCount"] == "0" for o in absent)
    by_id = archive.occurrences[URN + str(uuid.UUID(int=1234))]
    assert by_id[DWC + "individualCount"] == str(1 + 1233 % 5)
    assert by_id[DWC + "associatedMedia"] == "https://example.org/photos/1233"
    assert by_id[DWC + "coordinateUncertaintyInMeters"] == str(1233 % 40)
    zero = archive.occurrences[URN + str(uuid.UUID(int=41))]  # accuracy 0: the default
    assert zero[DWC + "coordinateUncertaintyInMeters"] == "100"
