"""What photos give away, and to whom: nothing of the upload's metadata in any served file; the
EXIF position and time to the observer alone; files only to those who may see the observation;
cache headers that never let a shared cache keep a photo that is not public."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from io import BytesIO
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from sqlmodel import Session

from app.accounts.models import User
from app.core.settings import Settings
from app.core.vocabulary import Role
from tests.factories import auth_headers, create_user
from tests.media.test_photos import (
    BLUE,
    PEREGRINE,
    RED,
    SECRETS,
    decode,
    fetch,
    gps_exif,
    jpeg,
    new_observation,
    set_status,
    two_tone,
    upload,
)

PUBLIC_CACHE = "public, max-age=31536000, immutable"
PRIVATE_CACHE = "private, max-age=3600"


def close_to(pixel: Any, colour: tuple[int, int, int]) -> bool:
    return all(abs(int(a) - b) < 40 for a, b in zip(pixel, colour, strict=True))


def assert_bare_jpeg(data: bytes) -> Image.Image:
    """A JPEG carrying pixels and nothing else: no EXIF or XMP (APP1), no ICC (APP2), no
    comment (COM), none of the upload's secrets anywhere in the bytes."""
    assert data[:2] == b"\xff\xd8"
    for secret in SECRETS:
        assert secret not in data
    # 0xFF is always followed by 0x00 inside entropy-coded data: these are real markers.
    assert b"\xff\xe1" not in data, "APP1 (EXIF/XMP) segment served"
    assert b"\xff\xe2" not in data, "APP2 (ICC/MPF) segment served"
    assert b"\xff\xfe" not in data, "comment segment served"
    assert b"Exif\x00" not in data
    assert b"http://ns.adobe.com/xap" not in data
    image = decode(data)
    assert image.format == "JPEG"
    assert len(image.getexif()) == 0
    assert not {"exif", "xmp", "comment", "icc_profile"} & set(image.info)
    return image


@pytest.fixture
def headers(session: Session, settings: Settings, observer: User) -> dict[str, dict[str, str]]:
    return {
        "observer": auth_headers(observer, settings),
        "other": auth_headers(create_user(session, settings), settings),
        "ecologist": auth_headers(create_user(session, settings, role=Role.ecologist), settings),
        "admin": auth_headers(create_user(session, settings, role=Role.admin), settings),
        "anonymous": {},
    }


def test_served_files_are_upright_and_carry_no_metadata(
    client: TestClient,
    settings: Settings,
    observer: User,
    headers: dict[str, dict[str, str]],
) -> None:
    obs = new_observation(client, observer, settings)
    # Stored 2400x1200 (top red, bottom blue), to be shown turned a quarter clockwise.
    data = jpeg((2400, 1200), exif=gps_exif(orientation=6))
    photo = upload(client, obs["id"], data, headers=headers["observer"]).json()

    sizes = {}
    for name, url in (
        ("full", photo["url"]),
        ("large", photo["large_url"]),
        ("small", photo["thumbnail_url"]),
    ):
        answer = fetch(client, url, headers["observer"])
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "image/jpeg"
        assert answer.headers["x-content-type-options"] == "nosniff"
        image = assert_bare_jpeg(answer.content)
        width, height = image.size
        sizes[name] = image.size
        # Upright: the stored top (red) is now on the right, the stored bottom (blue) on the left.
        rgb = image.convert("RGB")
        assert close_to(rgb.getpixel((width * 3 // 4, height // 2)), RED)
        assert close_to(rgb.getpixel((width // 4, height // 2)), BLUE)

    assert sizes == {"full": (1200, 2400), "large": (800, 1600), "small": (200, 400)}
    assert (photo["width"], photo["height"]) == (1200, 2400)


def test_a_png_with_text_chunks_is_served_bare(
    client: TestClient, settings: Settings, observer: User, headers: dict[str, dict[str, str]]
) -> None:
    obs = new_observation(client, observer, settings)
    info = PngInfo()
    info.add_text("Comment", "home sweet home")
    out = BytesIO()
    two_tone((40, 20)).save(out, format="PNG", pnginfo=info, exif=gps_exif(orientation=1))
    photo = upload(client, obs["id"], out.getvalue(), headers=headers["observer"]).json()

    served = fetch(client, photo["url"], headers["observer"])

    assert_bare_jpeg(served.content)
    assert photo["exif"]["latitude"] == pytest.approx(50.4571, abs=1e-4)


def test_pending_photos_are_served_to_the_observer_and_staff_only(
    client: TestClient,
    settings: Settings,
    observer: User,
    headers: dict[str, dict[str, str]],
) -> None:
    obs = new_observation(client, observer, settings)
    photo = upload(client, obs["id"], jpeg((64, 48), exif=gps_exif()), headers=headers["observer"])
    urls = [photo.json()[k] for k in ("url", "large_url", "thumbnail_url")]

    for who, expected in (
        ("observer", 200),
        ("ecologist", 200),
        ("admin", 200),
        ("other", 404),
        ("anonymous", 404),
    ):
        for url in urls:
            answer = fetch(client, url, headers[who])
            assert answer.status_code == expected, (who, url)
            if expected == 200:
                assert answer.headers["cache-control"] == PRIVATE_CACHE
            else:
                assert answer.json()["code"] == "photo.not_found"


@pytest.mark.parametrize("status", ["rejected", "needs_info"])
def test_reviewed_but_not_validated_photos_stay_private(
    client: TestClient,
    settings: Settings,
    observer: User,
    headers: dict[str, dict[str, str]],
    session: Session,
    status: str,
) -> None:
    obs = new_observation(client, observer, settings)
    photo = upload(client, obs["id"], jpeg((64, 48)), headers=headers["observer"]).json()
    set_status(session, obs["id"], status)

    assert fetch(client, photo["url"], headers["anonymous"]).status_code == 404
    assert fetch(client, photo["url"], headers["other"]).status_code == 404
    assert fetch(client, photo["url"], headers["ecologist"]).status_code == 200
    assert fetch(client, photo["url"], headers["observer"]).status_code == 200


def test_validated_photos_are_public_cacheable_and_conditional(
    client: TestClient,
    settings: Settings,
    observer: User,
    headers: dict[str, dict[str, str]],
    session: Session,
) -> None:
    obs = new_observation(client, observer, settings)
    photo = upload(
        client, obs["id"], jpeg((300, 200), exif=gps_exif()), headers=headers["observer"]
    ).json()
    set_status(session, obs["id"], "validated")

    answer = fetch(client, photo["url"])

    assert answer.status_code == 200
    assert answer.headers["cache-control"] == PUBLIC_CACHE
    assert answer.headers["x-content-type-options"] == "nosniff"
    etag = answer.headers["etag"]
    assert etag == f'"{hashlib.sha256(answer.content).hexdigest()}"'
    assert_bare_jpeg(answer.content)

    again = fetch(client, photo["url"], {"If-None-Match": etag})
    weak = fetch(client, photo["url"], {"If-None-Match": f'"other", W/{etag}'})
    stale = fetch(client, photo["url"], {"If-None-Match": '"0000"'})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert again.headers["cache-control"] == PUBLIC_CACHE
    assert weak.status_code == 304
    assert stale.status_code == 200
    assert stale.content == answer.content

    small = fetch(client, photo["thumbnail_url"])
    assert small.status_code == 200
    assert small.headers["etag"] == f'"{hashlib.sha256(small.content).hexdigest()}"'
    assert small.headers["etag"] != etag


def test_only_the_observer_ever_sees_the_exif(
    client: TestClient,
    settings: Settings,
    observer: User,
    headers: dict[str, dict[str, str]],
    session: Session,
) -> None:
    # Staff see every observation, those other tests committed too: list what changed since.
    since = {"updated_since": datetime.now(UTC).isoformat(), "limit": 500}
    obs = new_observation(client, observer, settings)
    photo = upload(
        client, obs["id"], jpeg((64, 48), exif=gps_exif()), headers=headers["observer"]
    ).json()
    assert photo["exif"]["latitude"] is not None
    set_status(session, obs["id"], "validated")
    public = {k: v for k, v in photo.items() if k != "exif"}

    for who in ("anonymous", "other", "ecologist", "admin"):
        read = client.get(f"/observations/{obs['id']}", headers=headers[who])
        assert read.status_code == 200, who
        assert read.json()["photos"] == [public], who
        listed = client.get("/observations", params=since, headers=headers[who]).json()["items"]
        mine = [item for item in listed if item["id"] == obs["id"]]
        assert mine and mine[0]["photos"] == [public], who

    by_observer = client.get(f"/observations/{obs['id']}", headers=headers["observer"]).json()
    assert by_observer["photos"] == [photo]
    listed = client.get("/observations", params={"mine": "true"}, headers=headers["observer"])
    assert listed.json()["items"][0]["photos"] == [photo]


def test_photos_of_a_sensitive_species_follow_the_same_rule_and_give_no_position(
    client: TestClient,
    settings: Settings,
    observer: User,
    headers: dict[str, dict[str, str]],
    session: Session,
) -> None:
    obs = new_observation(client, observer, settings, cd_nom=PEREGRINE)
    photo = upload(
        client, obs["id"], jpeg((64, 48), exif=gps_exif()), headers=headers["observer"]
    ).json()
    assert fetch(client, photo["url"]).status_code == 404
    set_status(session, obs["id"], "validated")

    read = client.get(f"/observations/{obs['id']}").json()
    served = fetch(client, photo["url"])

    assert read["generalised"] is True
    assert "exif" not in read["photos"][0]
    assert served.status_code == 200
    assert_bare_jpeg(served.content)
