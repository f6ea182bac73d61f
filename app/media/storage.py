"""Where photo files live: the local filesystem or an S3-compatible object store.

The photo service only needs four operations, so both backends sit behind one small protocol
and behave identically, including which keys they accept: a key that one backend refuses, the
other refuses too, so code tested on the filesystem cannot write somewhere unexpected in S3.
Keys are relative POSIX paths made of safe segments (``photos/<observation>/<photo>/full.jpg``);
anything that could climb out of the media root (``..``, an absolute path, an empty segment,
a backslash) is a programming error and raises ``ValueError``.

A prefix names a folder: ``delete_prefix("photos/abc")`` removes ``photos/abc/...`` and never
``photos/abcd/...``.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from app.core.settings import Settings

_SEGMENT = re.compile(r"[A-Za-z0-9._-]+")
# S3 refuses more keys than this in one DeleteObjects request.
S3_DELETE_BATCH = 1000
# What a plain open() gives under the usual umask 022: a backup job or a reverse proxy running
# as another user can read the files, as they could any file the app wrote itself.
FILE_MODE = 0o644
S3_EXTRA_HINT = "pip install 'sentinelles[s3]'"


@dataclass(frozen=True)
class MediaStream:
    """A stored file opened for reading: ``size`` bytes to read from ``body``, in pieces."""

    body: IO[bytes]
    size: int
    content_type: str | None


class MediaNotFound(KeyError):
    """No file under this key (a ``KeyError``, as for a missing mapping entry)."""


class StorageError(RuntimeError):
    """The storage backend is misconfigured or refused an operation."""


def validate_key(key: str) -> str:
    """Return ``key`` if it is a safe relative POSIX path, else raise ``ValueError``."""
    if not isinstance(key, str) or not key:
        raise ValueError("a media key must be a non-empty string")
    for segment in key.split("/"):
        if segment in ("", ".", "..") or not _SEGMENT.fullmatch(segment):
            raise ValueError(
                f"unsafe media key {key!r}: use '/'-separated segments of [A-Za-z0-9._-], "
                "without '.', '..', empty segments or a leading '/'"
            )
    return key


def _validate_prefix(prefix: str) -> str:
    """A prefix is a key naming a folder; one trailing slash is tolerated."""
    return validate_key(prefix[:-1] if prefix.endswith("/") else prefix)


class Storage(Protocol):
    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        """Store ``data`` under ``key``, replacing any previous file as one atomic step."""
        ...

    def get(self, key: str) -> bytes:
        """The bytes under ``key``; ``MediaNotFound`` when there are none."""
        ...

    def delete(self, key: str) -> None:
        """Remove ``key``; removing a missing key is not an error (retries are harmless)."""
        ...

    def delete_prefix(self, prefix: str) -> None:
        """Remove everything under the folder ``prefix``; a missing folder is not an error."""
        ...

    def list_keys(self) -> Iterator[str]:
        """Every stored key, in lexical order (backups list the store with it)."""
        ...

    def open(self, key: str) -> AbstractContextManager[MediaStream]:
        """A context manager giving the file under ``key`` as a ``MediaStream``, read without
        loading it whole; ``MediaNotFound`` when there is none."""
        ...


class LocalStorage(Storage):
    """Files under ``root``, for a single machine (the default, ``./var/media``).

    Writes go to a temporary file in the target's directory and are renamed over the final
    name, so a reader sees the old file or the new one, never half of one, and a crash leaves
    no partial file under a real key. Empty folders left by deletions are pruned so that the
    tree does not grow one empty directory per deleted observation.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser().absolute()

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*validate_key(key).split("/"))

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        path = self._path(key)
        # A concurrent delete_prefix may prune the folder between mkdir and the temporary file:
        # recreate it and try again rather than lose the upload.
        for attempt in range(3):
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._write_atomically(path, data)
                return
            except FileNotFoundError:
                if attempt == 2:
                    raise

    @staticmethod
    def _write_atomically(path: Path, data: bytes) -> None:
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fchmod(handle.fileno(), FILE_MODE)
                os.fsync(handle.fileno())
            tmp.replace(path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise MediaNotFound(key) from None

    def delete(self, key: str) -> None:
        path = self._path(key)
        if path.is_dir():
            return  # a folder is not a file stored under this key
        try:
            path.unlink(missing_ok=True)
        except NotADirectoryError:
            return
        self._prune(path.parent)

    def delete_prefix(self, prefix: str) -> None:
        path = self.root.joinpath(*_validate_prefix(prefix).split("/"))
        if not path.is_dir() or path.is_symlink():
            return
        # A concurrent upload may add a file while the tree is removed: go round again.
        for attempt in range(3):
            try:
                shutil.rmtree(path)
                break
            except OSError:
                if not path.exists():
                    break
                if attempt == 2:
                    raise
        self._prune(path.parent)

    def list_keys(self) -> Iterator[str]:
        found: list[str] = []
        for folder, subfolders, files in os.walk(self.root):
            subfolders.sort()
            base = Path(folder).relative_to(self.root).parts
            for name in files:
                if name.startswith(".") and name.endswith(".tmp"):
                    continue  # an upload being written (see _write_atomically)
                key = "/".join((*base, name))
                try:
                    found.append(validate_key(key))
                except ValueError:
                    continue  # not a file the application wrote
        yield from sorted(found)

    @contextmanager
    def open(self, key: str) -> Iterator[MediaStream]:
        path = self._path(key)
        try:
            handle = path.open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise MediaNotFound(key) from None
        with handle:
            yield MediaStream(handle, os.fstat(handle.fileno()).st_size, None)

    def _prune(self, folder: Path) -> None:
        """Remove empty folders from ``folder`` up to, not including, the root."""
        while folder != self.root and self.root in folder.parents:
            try:
                folder.rmdir()
            except OSError:  # not empty (or already gone): the folders above are in use
                return
            folder = folder.parent


def _import_boto3() -> Any:
    try:
        import boto3
    except ImportError as exc:
        raise StorageError(
            f"SENTINELLES_MEDIA_BACKEND=s3 needs boto3, which is not installed: {S3_EXTRA_HINT}"
        ) from exc
    return boto3


def _is_not_found(exc: Exception) -> bool:
    response = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    return code in ("NoSuchKey", "NotFound", "404")


class S3Storage(Storage):
    """Objects in an S3-compatible bucket (AWS, MinIO, Garage, Ceph, ...).

    The bucket is the deployment's to create (``ensure_bucket`` exists for tests and the CLI).
    The client is made on first use, once per instance, behind a lock: boto3 clients are
    thread-safe but the sessions that make them are not, so upload workers share one client.
    ``prefix`` (the ``s3_prefix`` setting) is put before every key, so several deployments can
    share a bucket.
    """

    def __init__(
        self,
        *,
        bucket: str,
        endpoint_url: str | None,
        region: str,
        access_key_id: str | None,
        secret_access_key: str | None,
        prefix: str = "",
        client: Any = None,
    ) -> None:
        if not bucket:
            raise ValueError("an S3 bucket name is required")
        self.bucket = bucket
        self.endpoint_url = endpoint_url or None
        self.region = region
        self._access_key_id = access_key_id
        self._secret_access_key = secret_access_key
        stripped = prefix.strip("/")
        self.prefix = validate_key(stripped) + "/" if stripped else ""
        self._client_instance = client
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        where = self.endpoint_url or "AWS"
        return f"S3Storage(bucket={self.bucket!r}, prefix={self.prefix!r}, endpoint={where!r})"

    @property
    def client(self) -> Any:
        if self._client_instance is None:
            with self._lock:
                if self._client_instance is None:
                    self._client_instance = self._make_client()
        return self._client_instance

    def _make_client(self) -> Any:
        boto3 = _import_boto3()
        from botocore.config import Config

        options: dict[str, Any] = {
            "retries": {"mode": "standard", "max_attempts": 5},
            "connect_timeout": 5,
            "read_timeout": 30,
        }
        if self.endpoint_url:
            # S3-compatible servers are usually reached by path (no per-bucket DNS names), and
            # several reject the CRC checksums boto3 >= 1.36 adds to every upload by default.
            options["s3"] = {"addressing_style": "path"}
            if "request_checksum_calculation" in Config.OPTION_DEFAULTS:
                options["request_checksum_calculation"] = "when_required"
                options["response_checksum_validation"] = "when_required"
        session = boto3.session.Session()
        return session.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self._access_key_id,
            aws_secret_access_key=self._secret_access_key,
            config=Config(**options),
        )

    def _key(self, key: str) -> str:
        return self.prefix + validate_key(key)

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        self.client.put_object(
            Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type
        )

    def get(self, key: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _is_not_found(exc):
                raise MediaNotFound(key) from None
            raise
        body = response["Body"]
        try:
            return bytes(body.read())
        finally:
            body.close()

    def delete(self, key: str) -> None:
        # S3 answers 204 whether or not the object existed.
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def delete_prefix(self, prefix: str) -> None:
        folder = self.prefix + _validate_prefix(prefix) + "/"
        paginator = self.client.get_paginator("list_objects_v2")
        batch: list[str] = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=folder):
            for item in page.get("Contents", ()):
                batch.append(item["Key"])
                if len(batch) >= S3_DELETE_BATCH:
                    self._delete_many(batch)
                    batch = []
        if batch:
            self._delete_many(batch)

    def list_keys(self) -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for item in page.get("Contents", ()):
                key = item["Key"][len(self.prefix) :]
                try:
                    yield validate_key(key)
                except ValueError:
                    continue  # not an object the application wrote

    @contextmanager
    def open(self, key: str) -> Iterator[MediaStream]:
        from botocore.exceptions import ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _is_not_found(exc):
                raise MediaNotFound(key) from None
            raise
        body = response["Body"]
        try:
            yield MediaStream(body, int(response["ContentLength"]), response.get("ContentType"))
        finally:
            body.close()

    def _delete_many(self, keys: list[str]) -> None:
        response = self.client.delete_objects(
            Bucket=self.bucket,
            Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True},
        )
        errors = response.get("Errors") or []
        if errors:
            first = errors[0]
            raise StorageError(
                f"S3 refused to delete {len(errors)} object(s) in bucket {self.bucket!r}, "
                f"e.g. {first.get('Key')!r}: {first.get('Code')}"
            )

    def ensure_bucket(self) -> None:
        """Create the bucket when it does not exist yet (tests, and a setup command)."""
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            if not _is_not_found(exc):
                raise
        arguments: dict[str, Any] = {"Bucket": self.bucket}
        if self.region and self.region != "us-east-1":
            arguments["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            self.client.create_bucket(**arguments)
        except ClientError as exc:
            code = (getattr(exc, "response", None) or {}).get("Error", {}).get("Code")
            if code != "BucketAlreadyOwnedByYou":
                raise


_cache: dict[tuple[Any, ...], Storage] = {}
_cache_lock = threading.Lock()


def storage_from_settings(settings: Settings) -> Storage:
    """The storage the settings describe, one instance (and one S3 client) per location."""
    if settings.media_backend == "s3":
        _import_boto3()  # fail at start-up with the fix, not on the first upload
        location: tuple[Any, ...] = (
            "s3",
            settings.s3_endpoint_url,
            settings.s3_region,
            settings.s3_bucket,
            settings.s3_prefix,
            settings.s3_access_key_id,
            settings.s3_secret_access_key,
        )
    else:
        location = ("local", str(Path(settings.media_dir).expanduser().absolute()))
    with _cache_lock:
        storage = _cache.get(location)
        if storage is None:
            storage = _build(settings)
            _cache[location] = storage
        return storage


def _build(settings: Settings) -> Storage:
    if settings.media_backend == "s3":
        return S3Storage(
            bucket=settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key,
            prefix=settings.s3_prefix,
        )
    return LocalStorage(settings.media_dir)
