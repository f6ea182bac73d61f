"""Settings, read once from the environment (prefix ``SENTINELLES_``) or a ``.env`` file.

Everything a deployment changes lives here, so that the same code serves any commune on any
machine: the database, the secret, token lifetimes, where media go, and the territory.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
import time
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger("sentinelles.settings")

# The placeholder that earlier versions of ``.env.example`` carried: published, so never used.
DEV_SECRET = "change-me-development-only-secret-key"
PUBLISHED_SECRETS = frozenset({DEV_SECRET})
MIN_SECRET_LENGTH = 32


class Settings(BaseSettings):
    """Every setting's docstring is its documentation: ``python -m app.core.settings_doc``
    writes docs/configuration.md and .env.example from them (tests/core/test_docs.py checks both).
    A setting unset by default gives an example value, which .env.example shows instead."""

    model_config = SettingsConfigDict(
        env_prefix="SENTINELLES_",
        env_file=".env",
        extra="ignore",
        env_file_encoding="utf-8",
        use_attribute_docstrings=True,
    )

    environment: Literal["development", "test", "production"] = "development"
    """`production` refuses to start without a real secret key; `test` uses a random key per
    process."""
    database_url: str = "sqlite:///./var/sentinelles.db"
    """SQLAlchemy URL of the database. PostgreSQL:
    `postgresql+psycopg://user:password@host:5432/sentinelles`."""
    database_pool_size: int = Field(default=20, ge=1, le=200)
    """Connections per process (PostgreSQL only; SQLite needs no tuning). At least the requests
    a process has in flight: a request beyond it waits for a connection rather than opening
    one of its own."""
    database_connect_timeout_seconds: int = Field(default=2, ge=2, le=60)
    """PostgreSQL: how long opening a connection may take (libpq's `connect_timeout`, whole
    seconds) and how long data sent on an open one may stay unacknowledged (`TCP_USER_TIMEOUT`)
    before the request is answered 503 with `Retry-After`, rather than hanging for minutes
    while the kernel retries when the database host is gone from the network."""
    database_pool_timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    """PostgreSQL: how long a request waits for a free connection of the pool before it is
    answered 503 `service.busy`. A burst beyond the pool waits rather than fails; an outage is
    bounded by the connect timeout instead."""

    secret_key: str = ""
    """Signs the access tokens: 32+ random characters, required in production (the placeholder
    earlier versions published is never used). Empty in development: generated on first start
    into `SENTINELLES_SECRET_KEY_FILE` (the log says so once); in the `test` environment: random
    per process."""
    # The resolution itself is ``_resolve_secret`` below.
    secret_key_file: Path | None = Field(default=None, examples=["./var/secret-key"])
    """Where development keeps its generated key (mode 0600; every worker of the install reads
    the same one). Unset: `secret-key` beside the SQLite database file, or beside the media
    directory (`./var/secret-key` by default). In production it is read when
    `SENTINELLES_SECRET_KEY` is unset (e.g. a mounted Docker or Kubernetes secret), never
    created."""
    access_token_minutes: int = Field(default=30, ge=1, le=24 * 60)
    """Lifetime of an access token, in minutes."""
    refresh_token_days: int = Field(default=60, ge=1, le=365)
    """Lifetime of a refresh token, in days (it is rotated on every use)."""
    # argon2id cost; the defaults follow RFC 9106's second recommendation. Tests lower them.
    argon2_time_cost: int = Field(default=3, ge=1)
    """argon2id passes for password hashing (RFC 9106's second recommendation)."""
    argon2_memory_kib: int = Field(default=64 * 1024, ge=8)
    """argon2id memory per hash, in KiB."""

    # The sign-in throttle (app.accounts.throttle; docs/deployment.md, "Security"). Failures
    # are counted per (account, client address) pair, per address and per account.
    login_max_failures: int = Field(default=5, ge=1)
    """Failed sign-ins tolerated per (account, client address) pair; then each attempt from that
    address on that account waits (429, `Retry-After`)."""
    login_delay_seconds: int = Field(default=2, ge=1)
    """The first such delay, in seconds, doubled at each further failure."""
    login_max_delay_seconds: int = Field(default=15 * 60, ge=1)
    """The longest such delay, in seconds."""
    login_pair_memory_seconds: int = Field(default=24 * 60 * 60, ge=1)
    """How long a pair's failures count, in seconds, from the first of them or from the end of
    the last delay (a successful sign-in forgets them at once)."""
    login_window_seconds: int = Field(default=15 * 60, ge=1)
    """The window, in seconds, of the per-address and per-account counts (and of class join
    attempts)."""
    login_address_max_failures: int = Field(default=100, ge=1)
    """Failed sign-ins from one address (any accounts) within the window before that address
    gets 429 for a window, doubling while it goes on, up to an hour: a volume no school or
    office behind one address reaches by mistyping."""
    login_account_max_failures: int = Field(default=50, ge=1)
    """Failed sign-ins on one account (any addresses) within the window before it is tried only
    from addresses that have not failed on it: a distributed guess gets one try per address,
    its owner still signs in from their own."""

    trusted_proxies: list[str] = []
    """Your reverse proxies' addresses or networks (CIDR), a JSON list (`["127.0.0.1"]`,
    `["10.0.0.0/8"]`): only from them are `X-Forwarded-For` (client address) and
    `X-Forwarded-Proto` (https) believed, by `sentinelles serve` (uvicorn) and by the throttle.
    Empty: the headers are ignored, the peer is the client."""
    trust_forwarded_for: bool = False
    """Deprecated, kept for existing deployments: `true` believes `X-Forwarded-For` from any
    peer, as before `SENTINELLES_TRUSTED_PROXIES`; set that instead."""

    cors_allow_origins: list[str] = []
    """Origins (`scheme://host[:port]`) allowed to call the API from a browser, a JSON list
    (`["https://app.example.org"]`); none by default. Credentials (cookies) are never allowed:
    the API takes bearer tokens."""
    web_session_hours: int = Field(default=12, ge=1, le=24 * 30)
    """How long a sign-in on the web pages lasts (a signed, HttpOnly cookie), in hours."""
    map_tile_url: str | None = Field(
        default=None, examples=["https://tiles.example.org/{z}/{x}/{y}.png"]
    )
    """A raster tile layer under the pages' maps (`{z}/{x}/{y}` template). Unset: the maps
    draw the communes and zones as vector layers only, and load nothing from another host."""
    map_tile_attribution: str = ""
    """The attribution the tile layer's licence asks for, shown on the maps (e.g.
    `© les contributeurs d'OpenStreetMap`)."""
    hsts_max_age_seconds: int = Field(default=365 * 24 * 60 * 60, ge=0)
    """`Strict-Transport-Security` max-age on answers to HTTPS requests (seen directly or
    through a trusted proxy); `0` sends none. Browsers then refuse plain HTTP to the host."""

    media_backend: Literal["local", "s3"] = "local"
    """Where photos are kept: `local` (files under `SENTINELLES_MEDIA_DIR`) or `s3` (an
    S3-compatible object store, which a deployment with several machines, or without a
    persistent disk, needs)."""
    media_dir: Path = Path("./var/media")
    """Where the `local` backend keeps uploaded files."""
    s3_bucket: str = "sentinelles-media"
    """The bucket (`s3` backend); it must exist."""
    s3_endpoint_url: str | None = Field(default=None, examples=["http://minio:9000"])
    """The address of an S3-compatible server (MinIO, Garage, Ceph…); unset: AWS."""
    s3_region: str = "us-east-1"
    """The bucket's region."""
    s3_access_key_id: str | None = Field(default=None, examples=["sentinelles"])
    """Credentials; unset: boto3's usual sources (environment, instance role)."""
    s3_secret_access_key: str | None = Field(default=None, examples=["a-long-random-secret"])
    """Credentials; unset: boto3's usual sources (environment, instance role)."""
    s3_prefix: str = ""
    """Put before every key, so that deployments can share a bucket."""
    keep_original_photos: bool = False
    """Keep the bytes as uploaded (with their metadata), readable by ecologists and admins
    only; off by default for privacy."""
    max_photo_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    """Largest photo upload, in bytes (413 beyond)."""
    max_photo_pixels: int = Field(default=50_000_000, ge=10_000)
    """Most pixels a photo may have (422 beyond: a decompression bomb)."""
    max_photos_per_observation: int = Field(default=5, ge=1, le=50)
    """Photos an observation may have (409 beyond)."""
    photo_workers: int = Field(default=2, ge=1, le=16)
    """Photos decoded at once per process: a 12-megapixel photo takes about 47 MB decoded, so
    this bounds the memory uploads take whatever their number."""
    max_json_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    """Largest request body accepted, in bytes (413 beyond)."""

    territory_name: str = "Loos-en-Gohelle"
    """The territory's display name."""
    territory_codes: list[str] = ["62528"]
    """INSEE code(s) of its commune(s), a JSON list; the demo's sightings fall in that zone and
    the `outside_territory` flag is set outside it."""
    territory_timezone: str = "Europe/Paris"
    """The territory's time zone (IANA): which year and month a visit or a first sighting
    belongs to."""

    # Plausibility flags (app.observations.flags): shown to ecologists, never a reason to refuse.
    flag_min_validated: int = Field(default=30, ge=1)
    """Validated records a species needs before its own season and usual counts set its
    flags."""
    flag_profile_seconds: float = Field(default=600.0, ge=0)
    """How long, in seconds, a process keeps a species' season and usual counts before reading
    them again."""
    flag_poor_accuracy_m: float = Field(default=1000.0, gt=0)
    """Accuracy, in metres, beyond which a position gets the `poor_location` flag."""
    flag_duplicate_distance_m: float = Field(default=50.0, gt=0)
    """`probable_duplicate`: a record of the same observer and species within this many metres
    and `SENTINELLES_FLAG_DUPLICATE_MINUTES` of another."""
    flag_duplicate_minutes: int = Field(default=60, ge=1)
    """`probable_duplicate`: a record of the same observer and species within this many minutes
    and `SENTINELLES_FLAG_DUPLICATE_DISTANCE_M` of another."""
    flag_high_count_factor: float = Field(default=2.0, gt=1)
    """`high_count`: a count over this many times the species' 99th-percentile validated
    count."""
    season_months_by_group: dict[str, list[int]] = {
        "butterfly": [3, 4, 5, 6, 7, 8, 9, 10],
        "moth": [3, 4, 5, 6, 7, 8, 9, 10, 11],
        "insect": [3, 4, 5, 6, 7, 8, 9, 10],
        "amphibian": [2, 3, 4, 5, 6, 7, 8, 9, 10],
        "reptile": [3, 4, 5, 6, 7, 8, 9, 10],
    }
    """A group's months (local time), a JSON object, until its species have enough validated
    data for the `out_of_season` flag; a group not listed is about all year (birds,
    plants...)."""

    reference_cache_seconds: float = Field(default=5.0, ge=0)
    """How often, in seconds, a process checks whether the species and zones changed (its
    cached look-ups)."""

    max_pupils_per_class: int = Field(default=40, ge=1, le=500)
    """Pupils a school class may have."""
    # A whole school joins from one address (its NAT): a class of 30 pupils typing the code on
    # tablets, each mistyping it two or three times, is 60 to 90 failures in a quarter of an
    # hour. 100 leaves them room, and a guesser 100 tries a quarter of an hour against 25^10
    # (about 10^14) codes.
    join_max_failures: int = Field(default=100, ge=1)
    """Failed class join attempts per client address within `SENTINELLES_LOGIN_WINDOW_SECONDS`
    before 429 (a whole school joins from one address)."""
    pupil_retention_days: int = Field(default=90, ge=0)
    """Days a closed class's pupils keep their pseudonyms before `sentinelles erase-pupils`
    erases them."""
    pupil_token_days: int = Field(default=300, ge=1)
    """Days a pupil token lasts (closing the class ends it sooner)."""
    teacher_invitation_days: int = Field(default=60, ge=1)
    """Days a teacher invitation code is valid."""

    public_url: str | None = Field(default=None, examples=["https://sentinelles.example.org"])
    """The API's public address, for the photo links in exports. Unset: the address a request
    came to (the CLI, which has no request, uses `http://localhost:8000`)."""
    dataset_title: str = (
        "Sentinelles de Loos-en-Gohelle : observations naturalistes citoyennes et comptages "
        "des protocoles (nids d'hirondelles, papillons des jardins)"
    )
    """The dataset's title, in the Darwin Core Archive's `eml.xml`."""
    dataset_abstract: str = (
        "Observations of wildlife reported by the residents of Loos-en-Gohelle (Pas-de-Calais, "
        "France), validated by the CPIE Chaîne des terrils, and the counts of its citizen "
        "surveys: swallow and swift nests on façades, butterflies in gardens."
    )
    """The dataset's abstract, in `eml.xml`."""
    dataset_publisher: str = "CPIE Chaîne des terrils"
    """The dataset's publisher, in `eml.xml`."""
    dataset_contact_name: str = "CPIE Chaîne des terrils"
    """The dataset's contact, in `eml.xml`."""
    dataset_contact_email: str = "contact@example.org"
    """The contact's e-mail address, in `eml.xml`."""
    dataset_licence: Literal["CC0-1.0", "CC-BY-4.0", "CC-BY-NC-4.0"] = "CC-BY-4.0"
    """The licence of the exported records, one for the whole dataset (the only ones GBIF
    takes)."""
    dataset_id: uuid.UUID | None = Field(
        default=None, examples=["0b6f3c2e-7d1a-4f5e-9c8b-2a4d6e8f0a1c"]
    )
    """The dataset's identifier (`datasetID`, SINP `jddMetaId`). Unset: a UUID derived from the
    territory's name, stable from one export to the next."""
    sinp_dataset_id: uuid.UUID | None = Field(
        default=None, examples=["4d331cae-65e4-4948-b0b2-a11bc5bb46c2"]
    )
    """The SINP dataset (`jddMetaId`) the regional platform registered for these data (its
    metadata application gives the UUID). Unset: `SENTINELLES_DATASET_ID`'s value or the derived
    one, which no platform knows: `sentinelles export --format sinp` then warns."""
    open_data_dir: Path = Path("./var/open-data")
    """Where `sentinelles publish` keeps the open-data snapshot that `GET /open-data` serves
    (the Darwin Core Archive, CSV and GeoJSON of the validated records)."""
    open_data_rebuild_hours: int = Field(default=0, ge=0, le=24 * 366)
    """Rebuild the open-data snapshot once it is this many hours old (24: every day), in the
    app's own processes; 0 (the default): only when `sentinelles publish` or the ecologists'
    button asks."""
    sinp_public_status: Literal["Pu", "Re", "Ac", "Pr", "NSP"] = "Pr"
    """SINP `dSPublique`: who the data belong to (`Pr` a private body, such as an association;
    `Pu` public)."""
    taxref_version: str = "17.0"
    """The TAXREF version the SINP export gives a species the reference gives none."""

    @field_validator("territory_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone: {value!r}") from None
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise ValueError(
                    f"not an IP address or network (CIDR): {entry!r}; e.g. 127.0.0.1 or 10.0.0.0/8"
                ) from None
        return [entry.strip() for entry in value]

    @field_validator("cors_allow_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if origin != "*" and not origin.startswith(("http://", "https://")):
                raise ValueError(f"a CORS origin is scheme://host[:port]: {origin!r}")
            if origin.endswith("/"):
                raise ValueError(f"a CORS origin has no path, not even '/': {origin!r}")
        return value

    @property
    def forwarded_allow(self) -> tuple[str, ...]:
        """The peers whose forwarding headers are believed; ``("*",)`` for any."""
        if self.trusted_proxies:
            return tuple(self.trusted_proxies)
        return ("*",) if self.trust_forwarded_for else ()

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.territory_timezone)

    @model_validator(mode="after")
    def _resolve_secret(self) -> Settings:
        """Never a published secret: production refuses to start without a real one; elsewhere
        a missing (or published) one is replaced by the install's generated key."""
        if self.secret_key in PUBLISHED_SECRETS:
            if self.environment == "production":
                raise ValueError(_SECRET_HELP)
            log.warning(
                "SENTINELLES_SECRET_KEY holds the published placeholder of .env.example: "
                "ignored, a key of this install is used instead"
            )
            self.secret_key = ""
        if self.secret_key:
            if self.environment == "production" and len(self.secret_key) < MIN_SECRET_LENGTH:
                raise ValueError(_SECRET_HELP)
            return self
        if self.environment == "production":
            if self.secret_key_file is None:
                raise ValueError(_SECRET_HELP)
            self.secret_key = read_secret_file(self.secret_key_file)
        elif self.environment == "test":
            self.secret_key = secrets.token_urlsafe(48)
        else:
            self.secret_key = load_or_create_secret(self.secret_key_path)
        return self

    @model_validator(mode="after")
    def _deprecated_forwarded_for(self) -> Settings:
        if self.trust_forwarded_for and not self.trusted_proxies:
            log.warning(
                "SENTINELLES_TRUST_FORWARDED_FOR=true believes X-Forwarded-For from any peer; "
                "it is deprecated: list your proxies in SENTINELLES_TRUSTED_PROXIES instead"
            )
        return self

    @property
    def secret_key_path(self) -> Path:
        """Where a generated key lives: ``secret_key_file``, else beside the data."""
        if self.secret_key_file is not None:
            return self.secret_key_file
        database = _sqlite_file(self.database_url)
        if database is not None:
            return database.parent / "secret-key"
        return self.media_dir.parent / "secret-key"

    @property
    def sinp_dataset_uuid(self) -> uuid.UUID:
        return self.sinp_dataset_id or self.dataset_uuid

    @property
    def dataset_contact_is_placeholder(self) -> bool:
        """Whether the dataset's contact is still the shipped example (nothing to publish)."""
        email = self.dataset_contact_email.strip().lower()
        domain = email.rpartition("@")[2]
        return not email or domain in ("example.org", "example.com", "example.net")

    @property
    def dataset_uuid(self) -> uuid.UUID:
        if self.dataset_id is not None:
            return self.dataset_id
        return uuid.uuid5(uuid.NAMESPACE_URL, f"sentinelles:{self.territory_name}")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


_SECRET_HELP = (
    "SENTINELLES_SECRET_KEY must be set to a random string of 32+ characters in production "
    "(or SENTINELLES_SECRET_KEY_FILE to a file holding one), e.g. the output of "
    "`python3 -c 'import secrets; print(secrets.token_urlsafe(48))'`"
)


def _sqlite_file(url: str) -> Path | None:
    if not url.startswith("sqlite:///"):
        return None
    path = url.removeprefix("sqlite:///").split("?", 1)[0]
    if not path or path == ":memory:":
        return None
    return Path(path)


def read_secret_file(path: Path, *, wait_seconds: float = 0.0) -> str:
    """The key held in ``path``. A file still empty (another process is writing it, on a file
    system without hard links) is read again for up to ``wait_seconds``."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            secret = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"cannot read the secret key file {path}: {exc.strerror}") from None
        if len(secret) >= MIN_SECRET_LENGTH:
            return secret
        if time.monotonic() >= deadline:
            raise ValueError(
                f"the secret key file {path} does not hold a key of {MIN_SECRET_LENGTH}+ "
                "characters; delete it to have a new one generated (signed-in users will have "
                "to sign in again), or write one in it"
            )
        time.sleep(0.05)


def load_or_create_secret(path: Path) -> str:
    """The key of this install, kept in ``path``; generated (mode 0600) if missing.

    Several workers starting at once race to create it: each writes a key of its own to a
    temporary file and hard-links it to ``path``, which succeeds for one of them only
    (``link`` never replaces a file); the others read the winner's. Where hard links are not
    supported, ``O_EXCL`` decides and the losers wait for the winner's bytes.
    """
    if path.exists():
        return read_secret_file(path, wait_seconds=2.0)
    try:
        return _create_secret(path)
    except OSError as exc:
        raise ValueError(
            f"cannot create the secret key file {path} ({exc.strerror}): make its directory "
            "writable, set SENTINELLES_SECRET_KEY_FILE elsewhere, or set SENTINELLES_SECRET_KEY"
        ) from None


def _create_secret(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    data = (secret + "\n").encode("ascii")
    created = False
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
            created = True
        except FileExistsError:
            pass
        except OSError:  # no hard links here (some network or FAT file systems)
            created = _create_exclusive(path, data)
    finally:
        tmp.unlink(missing_ok=True)
    if created:
        log.warning(
            "no SENTINELLES_SECRET_KEY: generated a secret key for this install in %s "
            "(mode 0600; keep it with the data; every process of the install reads it)",
            path.resolve(),
        )
        return secret
    return read_secret_file(path, wait_seconds=2.0)


def _create_exclusive(path: Path, data: bytes) -> bool:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    return True


@lru_cache
def get_settings() -> Settings:
    return Settings()
