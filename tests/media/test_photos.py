"""Photos of observations through the HTTP API: upload, refusals, limits, deletion, licences,
original files and the S3 backend.

The images are made here with Pillow. What the served files carry (or rather do not carry) and
who may fetch them is in ``test_photos_privacy.py``.
"""

from __future__ import annotations

import hashlib
import io
import random
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import Connection, Engine, event, update
from sqlmodel import Session, col, select

from app.accounts.models import User
from app.core.db import Database
from app.core.settings import Settings
from app.demo import load_demo, sentinel_email
from app.main import create_app
from app.media.models import ObservationPhoto
from app.media.storage import storage_from_settings
from app.observations import photos as photos_service
from app.observations.models import Observation
from tests.factories import auth_headers
from tests.observations.test_observations_concurrency import race

SWALLOW = 3696  # Hirondelle rustique, not sensitive
PEREGRINE = 2938  # Faucon pèlerin, sensitive
LOOS = (50.4571, 2.7852)
RED = (255, 0, 0)
BLUE = (0, 0, 255)
# What the phone's GPS wrote: 50°27'25.56" N, 2°47'6.72" E (in Loos-en-Gohelle).
EXIF_LATITUDE = 50 + 27 / 60 + 25.56 / 3600
EXIF_LONGITUDE = 2 + 47 / 60 + 6.72 / 3600
SECRETS = (b"MAKERNOTE-SECRET", b"secret comment", b"secret-xmp", b"home sweet home")


# --- images ----------------------------------------------------------------------------------


def two_tone(size: tuple[int, int]) -> Image.Image:
    """Top half red, bottom half blue, as stored (before any EXIF orientation)."""
    width, height = size
    image = Image.new("RGB", size, BLUE)
    image.paste(RED, (0, 0, width, height // 2))
    return image


def gps_exif(*, orientation: int = 6, taken_at: str = "2026:04:12 07:44:51") -> Image.Exif:
    """EXIF as a phone writes it: orientation, GPS, capture time, a maker note, a description."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010E] = "home sweet home"  # ImageDescription
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (50.0, 27.0, 25.56)
    gps[3], gps[4] = "E", (2.0, 47.0, 6.72)
    details = exif.get_ifd(0x8769)
    details[0x9003] = taken_at  # DateTimeOriginal, without an offset
    details[0x927C] = b"MAKERNOTE-SECRET"
    return exif


def jpeg(
    size: tuple[int, int] = (320, 160),
    *,
    exif: Image.Exif | None = None,
    image: Image.Image | None = None,
    quality: int = 90,
) -> bytes:
    """A JPEG; with ``exif``, also an XMP packet and a comment (what must never be served)."""
    out = io.BytesIO()
    options: dict[str, Any] = {"quality": quality}
    if exif is not None:
        options.update(
            exif=exif,
            comment=b"secret comment",
            xmp=b"<x:xmpmeta xmlns:x='adobe:ns:meta/'>secret-xmp</x:xmpmeta>",
        )
    (image or two_tone(size)).save(out, format="JPEG", **options)
    return out.getvalue()


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def noise(size: tuple[int, int], *, seed: int = 0) -> Image.Image:
    """Incompressible pixels: a JPEG of them is large for its size."""
    width, height = size
    return Image.frombytes("RGB", size, hashlib.shake_256(bytes([seed])).digest(width * height * 3))


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


# --- the API ---------------------------------------------------------------------------------


def observation_payload(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "client_id": str(uuid.uuid4()),
        "cd_nom": SWALLOW,
        "observed_at": "2026-04-12T07:45:00+02:00",
        "latitude": LOOS[0],
        "longitude": LOOS[1],
        "count": 2,
    }
    body.update(overrides)
    return body


def new_observation(
    client: TestClient, user: User, settings: Settings, **overrides: Any
) -> dict[str, Any]:
    answer = client.post(
        "/observations",
        json=observation_payload(**overrides),
        headers=auth_headers(user, settings),
    )
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


def upload(
    client: TestClient,
    observation_id: str,
    data: bytes,
    *,
    headers: dict[str, str] | None,
    licence: str | None = None,
    filename: str = "photo.jpg",
    content_type: str = "image/jpeg",
) -> Any:
    form = {"licence": licence} if licence is not None else None
    return client.post(
        f"/observations/{observation_id}/photos",
        files={"file": (filename, data, content_type)},
        data=form,
        headers=headers or {},
    )


def fetch(client: TestClient, url: str, headers: dict[str, str] | None = None) -> Any:
    """GET a URL the API answered (an absolute path, ``/api/v1/...``)."""
    assert url.startswith("/api/v1/"), url
    return client.get("http://testserver" + url, headers=headers or {})


def set_status(session: Session, observation_id: str, status: str) -> None:
    """What a review does, without the review endpoint."""
    session.execute(
        update(Observation)
        .where(col(Observation.id) == uuid.UUID(observation_id))
        .values(status=status)
    )
    session.flush()


def photo_rows(session: Session, observation_id: str) -> list[ObservationPhoto]:
    statement = select(ObservationPhoto).where(
        col(ObservationPhoto.observation_id) == uuid.UUID(observation_id)
    )
    return list(session.exec(statement).all())


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def open_temp_files() -> set[str]:
    """Files under the temporary directory this process holds open (Linux), unlinked or not:
    what an UploadFile left open would show up as."""
    temp_root = str(Path(tempfile.gettempdir()).resolve())
    found: set[str] = set()
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = str(fd.readlink())
        except OSError:
            continue
        if target.startswith(temp_root + "/"):
            found.add(target)
    return found


@pytest.fixture
def own_temp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Temporary files of this test in a directory of its own, so that counting them is not
    disturbed by anything else running on the machine."""
    path = tmp_path / "tmp"
    path.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(path))
    return path


# --- upload ----------------------------------------------------------------------------------


def test_upload_answers_201_with_the_photo_and_its_exif_for_the_observer(
    client: TestClient,
    settings: Settings,
    observer: User,
    observer_headers: dict[str, str],
    session: Session,
) -> None:
    obs = new_observation(client, observer, settings)
    assert obs["photos"] == []
    data = jpeg((320, 160), exif=gps_exif(orientation=6))

    answer = upload(client, obs["id"], data, headers=observer_headers)

    assert answer.status_code == 201, answer.text
    photo = answer.json()
    pid = photo["id"]
    assert photo["url"] == f"/api/v1/photos/{pid}"
    assert photo["thumbnail_url"] == f"/api/v1/photos/{pid}/small"
    assert photo["large_url"] == f"/api/v1/photos/{pid}/large"
    # Orientation 6: stored 320x160, shown upright 160x320.
    assert (photo["width"], photo["height"]) == (160, 320)
    assert photo["licence"] == "CC-BY-4.0"
    assert photo["created_at"].endswith("Z") or "+00:00" in photo["created_at"]
    exif = photo["exif"]
    assert exif["latitude"] == pytest.approx(EXIF_LATITUDE, abs=1e-6)
    assert exif["longitude"] == pytest.approx(EXIF_LONGITUDE, abs=1e-6)
    # 07:44:51 without an offset: Paris summer time, UTC+2.
    assert exif["taken_at"] in ("2026-04-12T05:44:51Z", "2026-04-12T05:44:51+00:00")

    (row,) = photo_rows(session, obs["id"])
    assert row.content_hash == hashlib.sha256(data).hexdigest()
    assert row.uploader_id == observer.id
    assert row.source_format == "JPEG"
    assert not row.has_original
    assert files_under(settings.media_dir) == [
        settings.media_dir / "photos" / obs["id"] / pid / name
        for name in ("full.jpg", "large.jpg", "small.jpg")
    ]

    read = client.get(f"/observations/{obs['id']}", headers=observer_headers)
    assert read.json()["photos"] == [photo]


def test_a_photo_without_metadata_has_exif_fields_null(
    client: TestClient, settings: Settings, observer: User, observer_headers: dict[str, str]
) -> None:
    obs = new_observation(client, observer, settings)

    answer = upload(client, obs["id"], png(two_tone((64, 48))), headers=observer_headers)

    assert answer.status_code == 201, answer.text
    assert answer.json()["exif"] == {"latitude": None, "longitude": None, "taken_at": None}
    assert (answer.json()["width"], answer.json()["height"]) == (64, 48)


def test_the_same_bytes_again_answer_200_with_the_same_photo(
    client: TestClient,
    settings: Settings,
    observer: User,
    observer_headers: dict[str, str],
    session: Session,
) -> None:
    obs = new_observation(client, observer, settings)
    data = jpeg((200, 100))

    first = upload(client, obs["id"], data, headers=observer_headers)
    again = upload(client, obs["id"], data, headers=observer_headers, filename="renamed.png")

    assert first.status_code == 201, first.text
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert len(photo_rows(session, obs["id"])) == 1
    assert len(files_under(settings.media_dir)) == 3

    # The same bytes on another observation are another photo.
    other = new_observation(client, observer, settings)
    elsewhere = upload(client, other["id"], data, headers=observer_headers)
    assert elsewhere.status_code == 201
    assert elsewhere.json()["id"] != first.json()["id"]


def test_a_sixth_photo_is_refused_with_409(
    client: TestClient,
    settings: Settings,
    observer: User,
    observer_headers: dict[str, str],
    session: Session,
) -> None:
    obs = new_observation(client, observer, settings)
    ids = []
    for i in range(5):
        answer = upload(client, obs["id"], png(noise((16, 16), seed=i)), headers=observer_headers)
        assert answer.status_code == 201, answer.text
        ids.append(answer.json()["id"])

    sixth = upload(client, obs["id"], png(noise((16, 16), seed=9)), headers=observer_headers)

    assert sixth.status_code == 409
    assert sixth.json()["code"] == "photo.limit_reached"
    assert len(photo_rows(session, obs["id"])) == 5
    assert len(files_under(settings.media_dir)) == 15
    # A retry of one of the five is still answered (it adds nothing).
    retry = upload(client, obs["id"], png(noise((16, 16), seed=2)), headers=observer_headers)
    assert retry.status_code == 200
    assert retry.json()["id"] == ids[2]
    # Photos are listed in upload order.
    read = client.get(f"/observations/{obs['id']}", headers=observer_headers)
    assert [p["id"] for p in read.json()["photos"]] == ids


def truncated_jpeg() -> bytes:
    data = jpeg((400, 300), image=noise((400, 300)))
    return data[: len(data) // 2]


def png_bomb() -> bytes:
    """64 megapixels (above the 50 allowed) in a few kilobytes."""
    return png(Image.new("1", (8000, 8000)))


REFUSALS = [
    pytest.param(
        b"%PDF-1.7\n" + bytes(range(256)) * 6000, 415, "photo.not_an_image", id="not-an-image"
    ),
    pytest.param(b"", 415, "photo.empty", id="empty"),
    pytest.param(truncated_jpeg(), 422, "photo.undecodable", id="truncated"),
    pytest.param(png_bomb(), 422, "photo.too_many_pixels", id="png-bomb"),
]


@pytest.mark.parametrize(("data", "status", "code"), REFUSALS)
def test_refused_uploads_leave_no_row_no_file_and_no_temporary_file(
    client: TestClient,
    settings: Settings,
    observer: User,
    observer_headers: dict[str, str],
    session: Session,
    own_temp_dir: Path,
    data: bytes,
    status: int,
    code: str,
) -> None:
    obs = new_observation(client, observer, settings)
    held_before = open_temp_files()

    answer = upload(client, obs["id"], data, headers=observer_headers)

    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == code
    assert photo_rows(session, obs["id"]) == []
    assert files_under(settings.media_dir) == []
    assert list(own_temp_dir.iterdir()) == []
    assert open_temp_files() <= held_before


def test_a_file_over_the_size_limit_is_refused_with_413(
    settings: Settings,
    db: Database,
    observer: User,
    observer_headers: dict[str, str],
    session: Session,
    own_temp_dir: Path,
) -> None:
    small_limit = settings.model_copy(update={"max_photo_bytes": 50_000})
    data = jpeg((300, 300), image=noise((300, 300)), quality=95)
    assert len(data) > 50_000
    with TestClient(
        create_app(small_limit, database=db), base_url="http://testserver/api/v1"
    ) as client:
        obs = new_observation(client, observer, settings)

        answer = upload(client, obs["id"], data, headers=observer_headers)
        fits = upload(client, obs["id"], jpeg((40, 40)), headers=observer_headers)

    assert answer.status_code == 413, answer.text
    assert answer.json()["code"] == "photo.too_large"
    assert fits.status_code == 201
    assert len(photo_rows(session, obs["id"])) == 1
    assert len(files_under(settings.media_dir)) == 3
    assert list(own_temp_dir.iterdir()) == []


def test_only_the_observer_may_upload(
    client: TestClient,
    settings: Settings,
    observer: User,
    other_headers: dict[str, str],
    ecologist_headers: dict[str, str],
    session: Session,
) -> None:
    obs = new_observation(client, observer, settings)
    data = jpeg((50, 50))

    hidden = upload(client, obs["id"], data, headers=other_headers)
    staff = upload(client, obs["id"], data, headers=ecologist_headers)
    anonymous = upload(client, obs["id"], data, headers=None)
    set_status(session, obs["id"], "validated")
    visible = upload(client, obs["id"], data, headers=other_headers)
    unknown = upload(client, str(uuid.uuid4()), data, headers=other_headers)

    assert hidden.status_code == 404  # a pending observation of someone else's
    assert staff.status_code == 403
    assert anonymous.status_code == 401
    assert visible.status_code == 403
    assert visible.json()["code"] == "observation.not_observer"
    assert unknown.status_code == 404
    assert photo_rows(session, obs["id"]) == []
    assert files_under(settings.media_dir) == []


def test_an_upload_without_a_file_is_a_422(
    client: TestClient, settings: Settings, observer: User, observer_headers: dict[str, str]
) -> None:
    obs = new_observation(client, observer, settings)

    answer = client.post(
        f"/observations/{obs['id']}/photos", data={"licence": "CC0-1.0"}, headers=observer_headers
    )

    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "file"


# --- deletion --------------------------------------------------------------------------------


def test_deleting_a_photo_removes_its_files(
    client: TestClient,
    settings: Settings,
    observer: User,
    observer_headers: dict[str, str],
    session: Session,
) -> None:
    obs = new_observation(client, observer, settings)
    kept = upload(client, obs["id"], jpeg((60, 40)), headers=observer_headers).json()
    gone = upload(client, obs["id"], png(two_tone((30, 20))), headers=observer_headers).json()
    assert len(files_under(settings.media_dir)) == 6

    answer = client.delete(f"/photos/{gone['id']}", headers=observer_headers)

    assert answer.status_code == 204
    assert not (settings.media_dir / "photos" / obs["id"] / gone["id"]).exists()
    assert len(files_under(settings.media_dir)) == 3
    assert [p.id for p in photo_rows(session, obs["id"])] == [uuid.UUID(kept["id"])]
    for url in (gone["url"], gone["thumbnail_url"], gone["large_url"]):
        assert fetch(client, url, observer_headers).status_code == 404
    assert client.delete(f"/photos/{gone['id']}", headers=observer_headers).status_code == 404
    read = client.get(f"/observations/{obs['id']}", headers=observer_headers)
    assert [p["id"] for p in read.json()["photos"]] == [kept["id"]]


def test_who_may_delete_a_photo(
    client: TestClient,
    settings: Settings,
    observer: User,
    observer_headers: dict[str, str],
    other_headers: dict[str, str],
    ecologist_headers: dict[str, str],
    session: Session,
) -> None:
    obs = new_observation(client, observer, settings)
    photo = upload(client, obs["id"], jpeg((60, 40)), headers=observer_headers).json()

    hidden = client.delete(f"/photos/{photo['id']}", headers=other_headers)
    set_status(session, obs["id"], "validated")
    seen = client.delete(f"/photos/{photo['id']}", headers=other_headers)
    reviewed = client.delete(f"/photos/{photo['id']}", headers=observer_headers)
    anonymous = client.delete(f"/photos/{photo['id']}")
    assert len(files_under(settings.media_dir)) == 3
    staff = client.delete(f"/photos/{photo['id']}", headers=ecologist_headers)

    assert hidden.status_code == 404
    assert seen.status_code == 403
    assert reviewed.status_code == 409
    assert reviewed.json()["code"] == "observation.not_editable"
    assert anonymous.status_code == 401
    assert staff.status_code == 204
    assert photo_rows(session, obs["id"]) == []
    assert files_under(settings.media_dir) == []


def test_deleting_an_observation_removes_its_photos_and_their_files(
    client: TestClient,
    settings: Settings,
    observer: User,
    observer_headers: dict[str, str],
    session: Session,
) -> None:
    obs = new_observation(client, observer, settings)
    other = new_observation(client, observer, settings)
    photo = upload(client, obs["id"], jpeg((60, 40)), headers=observer_headers).json()
    upload(client, obs["id"], png(two_tone((30, 20))), headers=observer_headers)
    upload(client, other["id"], jpeg((60, 40)), headers=observer_headers)

    answer = client.delete(f"/observations/{obs['id']}", headers=observer_headers)

    assert answer.status_code == 204
    assert not (settings.media_dir / "photos" / obs["id"]).exists()
    assert photo_rows(session, obs["id"]) == []
    assert len(files_under(settings.media_dir / "photos" / other["id"])) == 3
    assert fetch(client, photo["url"], observer_headers).status_code == 404
    # The tombstone a syncing phone sees carries no photos.
    changes = client.get(
        "/observations",
        params={"updated_since": "2000-01-01T00:00:00Z", "mine": "true"},
        headers=observer_headers,
    )
    by_id = {item["id"]: item for item in changes.json()["items"]}
    assert by_id[obs["id"]]["deleted"] is True
    assert by_id[obs["id"]]["photos"] == []
    assert len(by_id[other["id"]]["photos"]) == 1


def test_uploading_to_a_deleted_observation_is_a_404(
    client: TestClient,
    settings: Settings,
    observer: User,
    observer_headers: dict[str, str],
) -> None:
    obs = new_observation(client, observer, settings)
    assert client.delete(f"/observations/{obs['id']}", headers=observer_headers).status_code == 204

    answer = upload(client, obs["id"], jpeg((60, 40)), headers=observer_headers)

    assert answer.status_code == 404
    assert files_under(settings.media_dir) == []


# --- lists -----------------------------------------------------------------------------------


def test_a_list_reads_the_photos_of_a_whole_page_in_one_query(
    client: TestClient,
    settings: Settings,
    observer: User,
    observer_headers: dict[str, str],
    connection: Connection,
) -> None:
    observations = [new_observation(client, observer, settings) for _ in range(4)]
    for i, obs in enumerate(observations[:3]):
        for j in range(i + 1):
            data = png(noise((8, 8), seed=10 * i + j))
            assert upload(client, obs["id"], data, headers=observer_headers).status_code == 201
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(connection, "before_cursor_execute", record)
    try:
        answer = client.get("/observations", params={"mine": "true"}, headers=observer_headers)
    finally:
        event.remove(connection, "before_cursor_execute", record)

    assert answer.status_code == 200
    counts = {item["id"]: len(item["photos"]) for item in answer.json()["items"]}
    assert counts == {
        obs["id"]: min(i + 1, 3) if i < 3 else 0 for i, obs in enumerate(observations)
    }
    photo_queries = [s for s in statements if "observation_photo" in s]
    assert len(photo_queries) == 1, photo_queries


def test_a_retried_observation_post_answers_its_photos(
    client: TestClient,
    settings: Settings,
    observer: User,
    observer_headers: dict[str, str],
) -> None:
    body = observation_payload()
    obs = client.post("/observations", json=body, headers=observer_headers).json()
    photo = upload(client, obs["id"], jpeg((60, 40)), headers=observer_headers).json()

    again = client.post("/observations", json=body, headers=observer_headers)

    assert again.status_code == 200
    assert again.json()["photos"] == [photo]


def test_adding_or_removing_a_photo_is_a_change_of_the_observation_for_sync(
    client: TestClient, settings: Settings, observer: User, observer_headers: dict[str, str]
) -> None:
    obs = new_observation(client, observer, settings)

    photo = upload(client, obs["id"], jpeg((40, 30)), headers=observer_headers).json()
    after_upload = client.get(f"/observations/{obs['id']}", headers=observer_headers).json()
    client.delete(f"/photos/{photo['id']}", headers=observer_headers)
    after_delete = client.get(f"/observations/{obs['id']}", headers=observer_headers).json()

    times = [datetime.fromisoformat(o["updated_at"]) for o in (obs, after_upload, after_delete)]
    assert times[0] < times[1] < times[2]
    changes = client.get(
        "/observations",
        params={"updated_since": after_upload["updated_at"], "mine": "true"},
        headers=observer_headers,
    ).json()["items"]
    assert [(item["id"], item["photos"]) for item in changes] == [(obs["id"], [])]


# --- licences --------------------------------------------------------------------------------


def test_the_licence_defaults_to_the_observers_choice_and_may_be_set_per_upload(
    client: TestClient,
    settings: Settings,
    observer: User,
    observer_headers: dict[str, str],
    session: Session,
) -> None:
    obs = new_observation(client, observer, settings)
    me = client.get("/me", headers=observer_headers).json()
    assert me["photo_licence"] == "CC-BY-4.0"

    default = upload(client, obs["id"], jpeg((30, 30)), headers=observer_headers)
    chosen = upload(
        client, obs["id"], jpeg((31, 30)), headers=observer_headers, licence="CC-BY-NC-4.0"
    )
    changed = client.patch("/me", json={"photo_licence": "CC0-1.0"}, headers=observer_headers)
    after_change = upload(client, obs["id"], jpeg((32, 30)), headers=observer_headers)
    unknown = upload(
        client, obs["id"], jpeg((33, 30)), headers=observer_headers, licence="All rights reserved"
    )

    assert default.json()["licence"] == "CC-BY-4.0"
    assert chosen.json()["licence"] == "CC-BY-NC-4.0"
    assert changed.status_code == 200, changed.text
    assert changed.json()["photo_licence"] == "CC0-1.0"
    assert client.get("/me", headers=observer_headers).json()["photo_licence"] == "CC0-1.0"
    assert after_change.json()["licence"] == "CC0-1.0"
    assert unknown.status_code == 422
    assert unknown.json()["code"] == "photo.unknown_licence"
    stored = {p.licence for p in photo_rows(session, obs["id"])}
    assert stored == {"CC-BY-4.0", "CC-BY-NC-4.0", "CC0-1.0"}


def test_patch_me_changes_the_display_name_and_refuses_unknown_licences(
    client: TestClient, observer_headers: dict[str, str]
) -> None:
    renamed = client.patch("/me", json={"display_name": "  Camille D. "}, headers=observer_headers)
    unknown = client.patch("/me", json={"photo_licence": "CC-BY-SA-4.0"}, headers=observer_headers)
    null = client.patch("/me", json={"photo_licence": None}, headers=observer_headers)
    extra = client.patch("/me", json={"role": "admin"}, headers=observer_headers)
    anonymous = client.patch("/me", json={"display_name": "X"})

    assert renamed.status_code == 200
    assert renamed.json()["display_name"] == "Camille D."
    assert renamed.json()["photo_licence"] == "CC-BY-4.0"
    assert unknown.status_code == 422
    assert unknown.json()["code"] == "photo.unknown_licence"
    assert null.status_code == 422
    assert extra.status_code == 422
    assert anonymous.status_code == 401
    me = client.get("/me", headers=observer_headers).json()
    assert (me["display_name"], me["photo_licence"], me["role"]) == (
        "Camille D.",
        "CC-BY-4.0",
        "sentinel",
    )


# --- originals -------------------------------------------------------------------------------


def test_originals_are_kept_on_demand_and_served_to_staff_only(
    settings: Settings,
    db: Database,
    observer: User,
    observer_headers: dict[str, str],
    ecologist_headers: dict[str, str],
    session: Session,
) -> None:
    keeping = create_app(settings.model_copy(update={"keep_original_photos": True}), database=db)
    data = jpeg((120, 80), exif=gps_exif())
    with TestClient(keeping, base_url="http://testserver/api/v1") as client:
        obs = new_observation(client, observer, settings)
        photo = upload(client, obs["id"], data, headers=observer_headers).json()
        url = photo["url"] + "/original"

        staff = fetch(client, url, ecologist_headers)
        by_observer = fetch(client, url, observer_headers)
        anonymous = fetch(client, url)

    assert staff.status_code == 200
    assert staff.content == data  # metadata included, as uploaded
    assert staff.headers["content-type"] == "image/jpeg"
    assert staff.headers["etag"] == f'"{hashlib.sha256(data).hexdigest()}"'
    assert staff.headers["cache-control"].startswith("private")
    assert by_observer.status_code == 403
    assert anonymous.status_code == 401
    assert (settings.media_dir / "photos" / obs["id"] / photo["id"] / "original").exists()
    (row,) = photo_rows(session, obs["id"])
    assert row.has_original


def test_without_keep_original_photos_there_is_no_original(
    client: TestClient,
    settings: Settings,
    observer: User,
    observer_headers: dict[str, str],
    ecologist_headers: dict[str, str],
) -> None:
    obs = new_observation(client, observer, settings)
    photo = upload(client, obs["id"], jpeg((60, 40), exif=gps_exif()), headers=observer_headers)

    answer = fetch(client, photo.json()["url"] + "/original", ecologist_headers)

    assert answer.status_code == 404
    assert answer.json()["code"] == "photo.original_not_kept"
    assert not any(p.name == "original" for p in files_under(settings.media_dir))


# --- S3 ----------------------------------------------------------------------------------------


@pytest.fixture
def s3_app(settings: Settings, db: Database, s3_endpoint: str) -> Iterator[tuple[FastAPI, Any]]:
    import boto3

    bucket = f"photos-{uuid.uuid4().hex[:12]}"
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket=bucket)
    s3_settings = settings.model_copy(
        update={
            "media_backend": "s3",
            "s3_bucket": bucket,
            "s3_endpoint_url": s3_endpoint,
            "s3_access_key_id": "testing",
            "s3_secret_access_key": "testing",
            "s3_prefix": "sentinelles",
        }
    )
    yield create_app(s3_settings, database=db), (s3, bucket)


def test_photos_go_to_s3_when_configured(
    s3_app: tuple[FastAPI, Any],
    settings: Settings,
    observer: User,
    observer_headers: dict[str, str],
) -> None:
    app, (s3, bucket) = s3_app
    with TestClient(app, base_url="http://testserver/api/v1") as client:
        obs = new_observation(client, observer, settings)
        photo = upload(client, obs["id"], jpeg((80, 60)), headers=observer_headers).json()
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
        full = fetch(client, photo["url"], observer_headers)
        small = fetch(client, photo["thumbnail_url"], observer_headers)
        deleted = client.delete(f"/photos/{photo['id']}", headers=observer_headers)
        left = s3.list_objects_v2(Bucket=bucket).get("Contents", [])

    prefix = f"sentinelles/photos/{obs['id']}/{photo['id']}/"
    assert keys == [prefix + name for name in ("full.jpg", "large.jpg", "small.jpg")]
    assert full.status_code == 200
    assert decode(full.content).size == (80, 60)
    assert full.headers["etag"] == f'"{hashlib.sha256(full.content).hexdigest()}"'
    assert small.status_code == 200
    assert deleted.status_code == 204
    assert left == []
    assert files_under(settings.media_dir) == []


# --- races and failures ----------------------------------------------------------------------


def test_racing_uploads_store_each_photo_once_and_never_pass_the_limit(
    engine: Engine,
    settings: Settings,
    racer: User,
    committing_clients: Callable[[], TestClient],
) -> None:
    headers = auth_headers(racer, settings)
    obs = new_observation(committing_clients(), racer, settings)
    same = jpeg((64, 48))

    retries = race(4, committing_clients, lambda c: upload(c, obs["id"], same, headers=headers))
    images = iter([png(noise((8, 8), seed=100 + i)) for i in range(8)])
    lock = threading.Lock()

    def upload_next(c: TestClient) -> Any:
        with lock:
            data = next(images)
        return upload(c, obs["id"], data, headers=headers)

    crowd = race(8, committing_clients, upload_next)

    assert sorted(a.status_code for a in retries) == [200, 200, 200, 201]
    assert len({a.json()["id"] for a in retries}) == 1
    assert sorted(a.status_code for a in crowd) == [201] * 4 + [409] * 4
    with Session(engine) as work:
        rows = photo_rows(work, obs["id"])
    assert len(rows) == 5
    assert sorted(r.position for r in rows) == sorted({r.position for r in rows})
    assert len(files_under(settings.media_dir)) == 15


def test_a_rolled_back_upload_leaves_no_file(
    client: TestClient,
    settings: Settings,
    db: Database,
    observer: User,
    session: Session,
) -> None:
    """If the transaction that added a photo does not commit, the files written for it go."""
    obs = new_observation(client, observer, settings)
    storage = storage_from_settings(settings)

    with db.session() as work:
        observation = work.get(Observation, uuid.UUID(obs["id"]))
        assert observation is not None
        _, created = photos_service.add_photo(
            work,
            settings,
            storage,
            observation=observation,
            uploader_id=observer.id,
            upload=io.BytesIO(jpeg((50, 50))),
            licence=None,
        )
        assert created
        assert len(files_under(settings.media_dir)) == 3
        work.rollback()

    assert files_under(settings.media_dir) == []
    assert photo_rows(session, obs["id"]) == []


def test_resetting_the_demo_removes_the_files_of_photos_on_demo_observations(
    client: TestClient, settings: Settings, session: Session
) -> None:
    load_demo(session, settings, random.Random(1), sentinels=1, observations=2)
    sentinel = session.exec(select(User).where(col(User.email) == sentinel_email(1))).one()
    headers = auth_headers(sentinel, settings)
    demo_obs = session.exec(
        select(Observation).where(col(Observation.observer_id) == sentinel.id)
    ).first()
    assert demo_obs is not None
    demo_photos = set(files_under(settings.media_dir))  # the demo's own pictures
    answer = upload(client, str(demo_obs.id), jpeg((40, 30)), headers=headers)
    assert answer.status_code == 201
    before = set(files_under(settings.media_dir))
    assert len(before - demo_photos) == 3  # the upload's three sizes

    report = load_demo(session, settings, random.Random(1), sentinels=1, observations=2, reset=True)
    assert before <= set(files_under(settings.media_dir))  # not before the reset is committed
    session.commit()

    assert report.observations_deleted == 2
    after = set(files_under(settings.media_dir))
    assert not after & before  # every file of the old demo's photos is gone
    assert len(after) == 3 * report.photos_created  # the new demo's pictures only
