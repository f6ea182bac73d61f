"""The photo storage backends, one behaviour suite run against both.

The S3 backend is tested against a real S3-compatible HTTP server: moto's
``ThreadedMotoServer``, started by these tests on 127.0.0.1 (a free port) for the session and
reached by boto3 over HTTP with dummy credentials, exactly as a deployment reaches MinIO or AWS.
MinIO itself is not installable from the package registries here. Without moto (a dev
dependency) the S3 cases are skipped with the reason; the filesystem cases always run.
"""

from __future__ import annotations

import sys
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from app.core.settings import Settings
from app.media import storage as storage_module
from app.media.storage import (
    LocalStorage,
    MediaNotFound,
    S3Storage,
    Storage,
    StorageError,
    storage_from_settings,
)

JPEG = "image/jpeg"
UNSAFE_KEYS = [
    "",
    "/etc/passwd",
    "../outside.jpg",
    "photos/../../outside.jpg",
    "photos/./a.jpg",
    "..",
    ".",
    "photos//a.jpg",
    "photos/a.jpg/",
    "photos\\..\\a.jpg",
    "photos/a b.jpg",
    "photos/é.jpg",
    "photos/a.jpg\x00",
    "~/a.jpg",
]


def _s3(endpoint: str, *, bucket: str | None = None, prefix: str = "", region: str = "us-east-1"):
    return S3Storage(
        bucket=bucket or f"test-{uuid.uuid4().hex[:16]}",
        endpoint_url=endpoint,
        region=region,
        access_key_id="testing",
        secret_access_key="testing",
        prefix=prefix,
    )


@pytest.fixture(scope="session")
def s3_client(s3_endpoint: str) -> Any:
    """One client for the suite (making one takes a third of a second)."""
    return _s3(s3_endpoint).client


@pytest.fixture
def s3_storage(s3_endpoint: str, s3_client: Any) -> S3Storage:
    """A fresh bucket, with a key prefix so that every call goes through it."""
    store = S3Storage(
        bucket=f"test-{uuid.uuid4().hex[:16]}",
        endpoint_url=s3_endpoint,
        region="us-east-1",
        access_key_id="testing",
        secret_access_key="testing",
        prefix="deployment-a",
        client=s3_client,
    )
    store.ensure_bucket()
    return store


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "local":
        return LocalStorage(tmp_path / "media")
    return request.getfixturevalue("s3_storage")


def _all_keys(store: Storage) -> set[str]:
    """Every key the backend holds, as the caller named it (prefix removed)."""
    if isinstance(store, LocalStorage):
        if not store.root.exists():
            return set()
        return {p.relative_to(store.root).as_posix() for p in store.root.rglob("*") if p.is_file()}
    assert isinstance(store, S3Storage)
    pages = store.client.get_paginator("list_objects_v2").paginate(Bucket=store.bucket)
    keys = {item["Key"] for page in pages for item in page.get("Contents", ())}
    assert all(key.startswith(store.prefix) for key in keys)
    return {key.removeprefix(store.prefix) for key in keys}


# --- the shared behaviour ------------------------------------------------------------------


def test_put_then_get_returns_the_same_bytes(storage: Storage) -> None:
    data = bytes(range(256)) * 300
    storage.put("photos/obs-1/ph-1/full.jpg", data, content_type=JPEG)

    assert storage.get("photos/obs-1/ph-1/full.jpg") == data
    assert _all_keys(storage) == {"photos/obs-1/ph-1/full.jpg"}


def test_empty_payload_round_trips(storage: Storage) -> None:
    storage.put("photos/o/p/original", b"", content_type="application/octet-stream")

    assert storage.get("photos/o/p/original") == b""


def test_put_replaces_the_previous_bytes(storage: Storage) -> None:
    storage.put("photos/o/p/small.jpg", b"first version, longer than the second", content_type=JPEG)
    storage.put("photos/o/p/small.jpg", b"second", content_type=JPEG)

    assert storage.get("photos/o/p/small.jpg") == b"second"
    assert _all_keys(storage) == {"photos/o/p/small.jpg"}


def test_get_of_a_missing_key_raises_media_not_found(storage: Storage) -> None:
    storage.put("photos/o/p/full.jpg", b"x", content_type=JPEG)

    with pytest.raises(MediaNotFound) as caught:
        storage.get("photos/o/p/large.jpg")
    assert isinstance(caught.value, KeyError)
    assert caught.value.args == ("photos/o/p/large.jpg",)
    # A folder is not a stored file either.
    with pytest.raises(MediaNotFound):
        storage.get("photos/o/p")


def test_delete_removes_a_key_and_missing_keys_are_fine(storage: Storage) -> None:
    storage.put("photos/o/p/full.jpg", b"full", content_type=JPEG)
    storage.put("photos/o/p/small.jpg", b"small", content_type=JPEG)

    storage.delete("photos/o/p/full.jpg")
    storage.delete("photos/o/p/full.jpg")  # a retry
    storage.delete("photos/never/written.jpg")

    with pytest.raises(MediaNotFound):
        storage.get("photos/o/p/full.jpg")
    assert storage.get("photos/o/p/small.jpg") == b"small"
    assert _all_keys(storage) == {"photos/o/p/small.jpg"}


def test_delete_prefix_removes_that_folder_and_nothing_else(storage: Storage) -> None:
    doomed = [
        "photos/obs1/p1/full.jpg",
        "photos/obs1/p1/large.jpg",
        "photos/obs1/p1/small.jpg",
        "photos/obs1/p2/full.jpg",
        "photos/obs1/p2/original",
    ]
    kept = [
        "photos/obs10/p1/full.jpg",  # same leading characters, another folder
        "photos/obs1.jpg",
        "photos/obs0/p1/full.jpg",
        "other/obs1/p1/full.jpg",
    ]
    for key in doomed + kept:
        storage.put(key, key.encode(), content_type=JPEG)

    storage.delete_prefix("photos/obs1")

    assert _all_keys(storage) == set(kept)
    for key in doomed:
        with pytest.raises(MediaNotFound):
            storage.get(key)
    for key in kept:
        assert storage.get(key) == key.encode()


def test_delete_prefix_of_one_photo_and_trailing_slash(storage: Storage) -> None:
    for name in ("full.jpg", "small.jpg"):
        storage.put(f"photos/o/p1/{name}", b"1", content_type=JPEG)
        storage.put(f"photos/o/p2/{name}", b"2", content_type=JPEG)

    storage.delete_prefix("photos/o/p1/")

    assert _all_keys(storage) == {"photos/o/p2/full.jpg", "photos/o/p2/small.jpg"}


def test_delete_prefix_of_a_missing_folder_is_fine(storage: Storage) -> None:
    storage.put("photos/o/p/full.jpg", b"x", content_type=JPEG)

    storage.delete_prefix("photos/nothing-here")
    storage.delete_prefix("never")

    assert _all_keys(storage) == {"photos/o/p/full.jpg"}


@pytest.mark.parametrize("key", UNSAFE_KEYS)
def test_unsafe_keys_are_refused_by_every_operation(storage: Storage, key: str) -> None:
    operations: list[Callable[[], Any]] = [
        lambda: storage.put(key, b"evil", content_type=JPEG),
        lambda: storage.get(key),
        lambda: storage.delete(key),
    ]
    if key != "photos/a.jpg/":  # a folder may be written with one trailing slash
        operations.append(lambda: storage.delete_prefix(key))
    for operation in operations:
        with pytest.raises(ValueError, match="media key"):
            operation()

    assert _all_keys(storage) == set()


def test_concurrent_puts_from_threads_all_land(storage: Storage) -> None:
    keys = [f"photos/o{i % 4}/p{i}/{size}.jpg" for i in range(24) for size in ("full", "small")]

    def put(key: str) -> None:
        storage.put(key, key.encode() * 100, content_type=JPEG)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(put, keys))

    assert _all_keys(storage) == set(keys)
    for key in keys:
        assert storage.get(key) == key.encode() * 100


def test_readers_never_see_half_a_file_while_writers_replace_it(storage: Storage) -> None:
    key = "photos/o/p/full.jpg"
    versions = [bytes([n]) * (50_000 + 7_919 * n) for n in range(1, 5)]
    storage.put(key, versions[0], content_type=JPEG)
    stop = threading.Event()
    seen: list[bytes] = []

    def read() -> None:
        while True:
            seen.append(storage.get(key))
            if stop.is_set():
                return

    def write(version: bytes) -> None:
        for _ in range(5):
            storage.put(key, version, content_type=JPEG)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(write, versions))
    finally:
        stop.set()
        reader.join()

    assert seen
    assert all(data in versions for data in seen)
    assert storage.get(key) in versions
    assert _all_keys(storage) == {key}


# --- the filesystem backend ----------------------------------------------------------------


def test_local_files_live_under_the_root_at_the_key_path(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path / "media")
    store.put("photos/o/p/full.jpg", b"bytes", content_type=JPEG)

    path = tmp_path / "media" / "photos" / "o" / "p" / "full.jpg"
    assert path.read_bytes() == b"bytes"
    assert sorted(p.name for p in path.parent.iterdir()) == ["full.jpg"]  # no temporary file
    assert path.stat().st_mode & 0o777 == 0o644


def test_local_failed_write_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash between writing and renaming: the old file stays, no temporary file is left."""
    store = LocalStorage(tmp_path / "media")
    store.put("photos/o/p/full.jpg", b"old complete file", content_type=JPEG)

    def crash(self: Path, target: Any) -> Path:
        raise OSError("disk gone")

    monkeypatch.setattr(Path, "replace", crash)
    with pytest.raises(OSError, match="disk gone"):
        store.put("photos/o/p/full.jpg", b"new file", content_type=JPEG)
    with pytest.raises(OSError, match="disk gone"):
        store.put("photos/o/p/small.jpg", b"new file", content_type=JPEG)
    monkeypatch.undo()

    folder = tmp_path / "media" / "photos" / "o" / "p"
    assert sorted(p.name for p in folder.iterdir()) == ["full.jpg"]
    assert store.get("photos/o/p/full.jpg") == b"old complete file"
    with pytest.raises(MediaNotFound):
        store.get("photos/o/p/small.jpg")


def test_local_deletions_prune_empty_folders_but_keep_the_root(tmp_path: Path) -> None:
    root = tmp_path / "media"
    store = LocalStorage(root)
    store.put("photos/o1/p1/full.jpg", b"1", content_type=JPEG)
    store.put("photos/o1/p2/full.jpg", b"2", content_type=JPEG)
    store.put("photos/o2/p1/full.jpg", b"3", content_type=JPEG)

    store.delete("photos/o1/p2/full.jpg")
    assert not (root / "photos" / "o1" / "p2").exists()
    assert (root / "photos" / "o1" / "p1" / "full.jpg").exists()

    store.delete_prefix("photos/o1")
    assert not (root / "photos" / "o1").exists()
    assert (root / "photos" / "o2" / "p1" / "full.jpg").exists()

    store.delete_prefix("photos/o2")
    assert root.is_dir()
    assert list(root.iterdir()) == []


def test_local_unsafe_keys_write_nothing_anywhere(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path / "media" / "inner")
    for key in UNSAFE_KEYS:
        with pytest.raises(ValueError):
            store.put(key, b"evil", content_type=JPEG)

    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_local_puts_survive_concurrent_pruning(tmp_path: Path) -> None:
    """Uploads racing with deletions that prune the shared ``photos`` folder still land."""
    store = LocalStorage(tmp_path / "media")
    stop = threading.Event()

    def churn() -> None:
        while not stop.is_set():
            store.put("photos/churn/x.jpg", b"x", content_type=JPEG)
            store.delete_prefix("photos/churn")  # prunes photos/ whenever it is empty

    churner = threading.Thread(target=churn)
    churner.start()
    read_back: list[bytes] = []
    try:
        for i in range(300):
            key = f"photos/o{i}/full.jpg"
            store.put(key, b"kept", content_type=JPEG)
            read_back.append(store.get(key))
            store.delete(key)  # prunes photos/o{i}/ and, when empty, photos/
    finally:
        stop.set()
        churner.join()

    assert read_back == [b"kept"] * 300
    assert _all_keys(store) == set()


# --- the S3 backend ------------------------------------------------------------------------


def test_s3_keeps_the_content_type_under_the_prefixed_key(s3_storage: S3Storage) -> None:
    s3_storage.put("photos/o/p/small.webp", b"RIFF....WEBP", content_type="image/webp")

    head = s3_storage.client.head_object(
        Bucket=s3_storage.bucket, Key="deployment-a/photos/o/p/small.webp"
    )
    assert head["ContentType"] == "image/webp"
    assert head["ContentLength"] == len(b"RIFF....WEBP")


def test_s3_prefixes_isolate_deployments_sharing_a_bucket(
    s3_storage: S3Storage, s3_endpoint: str
) -> None:
    neighbour = _s3(s3_endpoint, bucket=s3_storage.bucket, prefix="/deployment-b/")
    s3_storage.put("photos/o/p/full.jpg", b"a", content_type=JPEG)
    neighbour.put("photos/o/p/full.jpg", b"b", content_type=JPEG)

    s3_storage.delete_prefix("photos/o")

    with pytest.raises(MediaNotFound):
        s3_storage.get("photos/o/p/full.jpg")
    assert neighbour.get("photos/o/p/full.jpg") == b"b"
    listed = s3_storage.client.list_objects_v2(Bucket=s3_storage.bucket)
    assert [item["Key"] for item in listed["Contents"]] == ["deployment-b/photos/o/p/full.jpg"]


def test_s3_delete_prefix_deletes_in_batches(
    s3_storage: S3Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """S3 takes at most 1000 keys per DeleteObjects; the batching is shown with a batch of 3."""
    assert storage_module.S3_DELETE_BATCH == 1000
    monkeypatch.setattr(storage_module, "S3_DELETE_BATCH", 3)
    batches: list[int] = []

    def count(params: dict[str, Any], **_: Any) -> None:
        batches.append(len(params["Delete"]["Objects"]))

    s3_storage.client.meta.events.register("provide-client-params.s3.DeleteObjects", count)
    for i in range(7):
        s3_storage.put(f"photos/o/p{i}/full.jpg", b"x", content_type=JPEG)
    s3_storage.put("photos/kept/p/full.jpg", b"x", content_type=JPEG)

    try:
        s3_storage.delete_prefix("photos/o")
    finally:
        s3_storage.client.meta.events.unregister("provide-client-params.s3.DeleteObjects", count)

    assert batches == [3, 3, 1]
    assert _all_keys(s3_storage) == {"photos/kept/p/full.jpg"}


def test_s3_missing_bucket_is_an_error_not_a_missing_photo(s3_endpoint: str) -> None:
    store = _s3(s3_endpoint)  # bucket never created

    with pytest.raises(Exception) as caught:
        store.get("photos/o/p/full.jpg")
    assert not isinstance(caught.value, MediaNotFound)
    assert "NoSuchBucket" in str(caught.value)


def test_s3_ensure_bucket_creates_once_in_the_configured_region(s3_endpoint: str) -> None:
    store = _s3(s3_endpoint, region="eu-west-3")

    store.ensure_bucket()
    store.ensure_bucket()  # already there: nothing to do

    location = store.client.get_bucket_location(Bucket=store.bucket)
    assert location["LocationConstraint"] == "eu-west-3"
    store.put("photos/o/p/full.jpg", b"x", content_type=JPEG)
    assert store.get("photos/o/p/full.jpg") == b"x"


def test_s3_client_is_made_once_for_all_threads(s3_endpoint: str) -> None:
    store = _s3(s3_endpoint)
    barrier = threading.Barrier(8)

    def client_id(_: int) -> int:
        barrier.wait()
        return id(store.client)

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = set(pool.map(client_id, range(8)))

    assert len(ids) == 1


def test_s3_prefix_is_validated_like_a_key(s3_endpoint: str) -> None:
    with pytest.raises(ValueError, match="media key"):
        _s3(s3_endpoint, prefix="../escape")


# --- storage_from_settings -----------------------------------------------------------------


def test_settings_select_the_local_backend_once_per_folder(settings: Settings) -> None:
    first = storage_from_settings(settings)
    again = storage_from_settings(settings.model_copy())

    assert isinstance(first, LocalStorage)
    assert first.root == settings.media_dir.absolute()
    assert again is first
    other = storage_from_settings(settings.model_copy(update={"media_dir": Path("elsewhere")}))
    assert other is not first


def test_settings_select_the_s3_backend_with_one_client(
    settings: Settings, s3_endpoint: str
) -> None:
    s3_settings = settings.model_copy(
        update={
            "media_backend": "s3",
            "s3_bucket": f"settings-{uuid.uuid4().hex[:12]}",
            "s3_endpoint_url": s3_endpoint,
            "s3_region": "us-east-1",
            "s3_access_key_id": "testing",
            "s3_secret_access_key": "testing",
            "s3_prefix": "sentinelles",
        }
    )

    store = storage_from_settings(s3_settings)
    assert isinstance(store, S3Storage)
    assert storage_from_settings(s3_settings.model_copy()) is store
    store.ensure_bucket()
    store.put("photos/o/p/full.jpg", b"via settings", content_type=JPEG)

    raw = store.client.get_object(Bucket=store.bucket, Key="sentinelles/photos/o/p/full.jpg")
    assert raw["Body"].read() == b"via settings"
    assert storage_from_settings(s3_settings).get("photos/o/p/full.jpg") == b"via settings"


def test_s3_without_boto3_says_how_to_install_it(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)  # what an absent package looks like
    s3_settings = settings.model_copy(
        update={"media_backend": "s3", "s3_bucket": f"absent-{uuid.uuid4().hex[:12]}"}
    )

    with pytest.raises(StorageError, match=r"pip install 'sentinelles\[s3\]'"):
        storage_from_settings(s3_settings)
