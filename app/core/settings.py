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
    model_config = SettingsConfigDict(
        env_prefix="SENTINELLES_", env_file=".env", extra="ignore", env_file_encoding="utf-8"
    )

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite:///./var/sentinelles.db"
    # Connections per process (PostgreSQL; SQLite needs no tuning). At least the number of
    # requests a process has in flight: a request beyond it waits for a connection rather than
    # opening (and closing) one of its own.
    database_pool_size: int = Field(default=20, ge=1, le=200)
    # PostgreSQL: how long opening a connection may take (libpq's connect_timeout, whole
    # seconds, at least 2), and how long data sent on an open one may stay unacknowledged
    # (TCP_USER_TIMEOUT; keepalives while waiting for a reply) before the request is answered
    # 503 with Retry-After. Without it, a database host gone from the network leaves requests
    # hanging for minutes (the kernel's TCP retries) while phones show a spinner.
    database_connect_timeout_seconds: int = Field(default=2, ge=2, le=60)
    # PostgreSQL: how long a request waits for a free connection of the pool before it is
    # answered 503 service.busy. Not an outage's bound (then connections come back within the
    # connect timeout); a burst beyond the pool waits rather than fails.
    database_pool_timeout_seconds: float = Field(default=30.0, gt=0, le=300)

    # Signs the access tokens. Empty (the default): in production the service refuses to
    # start; in development it uses the key in ``secret_key_file``, generated on first start
    # (see ``_resolve_secret``); in the test environment a random key per process.
    secret_key: str = ""
    # Where a generated key is kept (mode 0600; every process of the install reads the same).
    # Default: ``secret-key`` beside the SQLite database file, or beside the media directory.
    # In production, a file set here explicitly (e.g. a Docker or Kubernetes secret) is read
    # when ``SENTINELLES_SECRET_KEY`` is unset, and never created.
    secret_key_file: Path | None = None
    access_token_minutes: int = Field(default=30, ge=1, le=24 * 60)
    refresh_token_days: int = Field(default=60, ge=1, le=365)
    # argon2id cost; the defaults follow RFC 9106's second recommendation. Tests lower them.
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=64 * 1024, ge=8)

    # The sign-in throttle (app.accounts.throttle, README "Security"). Failures are counted
    # per (account, client address) pair, per address and per account:
    # - a pair may fail login_max_failures times, then each further attempt from that address
    #   on that account waits login_delay_seconds, doubled at every failure up to
    #   login_max_delay_seconds; a pair's failures are forgotten login_pair_memory_seconds
    #   after the first of them (or after the end of its last delay), or at once when it
    #   signs in;
    # - an address failing login_address_max_failures times within login_window_seconds (on
    #   any accounts) is refused for a window, doubled while it goes on, up to an hour: a volume
    #   no school or office behind one address reaches by mistyping;
    # - an account failing login_account_max_failures times within the window (from any
    #   addresses) is then tried only from addresses that have not failed on it: a distributed
    #   guess gets one try per address, its owner still signs in from their own.
    login_max_failures: int = Field(default=5, ge=1)
    login_delay_seconds: int = Field(default=2, ge=1)
    login_max_delay_seconds: int = Field(default=15 * 60, ge=1)
    login_pair_memory_seconds: int = Field(default=24 * 60 * 60, ge=1)
    login_window_seconds: int = Field(default=15 * 60, ge=1)
    login_address_max_failures: int = Field(default=100, ge=1)
    login_account_max_failures: int = Field(default=50, ge=1)

    # Reverse proxies whose X-Forwarded-For (client address) and X-Forwarded-Proto (https) are
    # believed: addresses or networks (CIDR), a JSON list, e.g. ["127.0.0.1", "10.0.0.0/8"].
    # Empty (the default): the headers are ignored, the peer is the client.
    trusted_proxies: list[str] = []
    # Deprecated, kept for existing deployments: true believes the headers from any peer (as
    # before trusted_proxies existed). Set trusted_proxies instead.
    trust_forwarded_for: bool = False

    # Origins (scheme://host[:port]) allowed to call the API from a browser (CORS), a JSON
    # list. Empty (the default): no cross-origin access. The API takes bearer tokens, not
    # cookies, so credentials are never allowed.
    cors_allow_origins: list[str] = []
    # Strict-Transport-Security's max-age on answers to HTTPS requests (seen directly or through
    # a trusted proxy); 0 sends none. One year; browsers then refuse plain HTTP to the host.
    hsts_max_age_seconds: int = Field(default=365 * 24 * 60 * 60, ge=0)

    # Photos. "local" keeps files under media_dir; "s3" uses an S3-compatible object store,
    # which a deployment with several app processes or machines needs.
    media_backend: Literal["local", "s3"] = "local"
    media_dir: Path = Path("./var/media")
    s3_bucket: str = "sentinelles-media"
    s3_endpoint_url: str | None = None  # e.g. http://minio:9000; None = AWS
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    s3_prefix: str = ""
    # Keep the bytes as uploaded (with their metadata), readable by ecologists only.
    keep_original_photos: bool = False
    max_photo_bytes: int = Field(default=20 * 1024 * 1024, ge=1024)
    max_photo_pixels: int = Field(default=50_000_000, ge=10_000)
    max_photos_per_observation: int = Field(default=5, ge=1, le=50)
    # Photos decoded at once per process: a 12-megapixel photo takes ~47 MB decoded, so this
    # bounds the memory that uploads can take whatever their number.
    photo_workers: int = Field(default=2, ge=1, le=16)
    max_json_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)

    # The territory the survey covers: the INSEE code of its commune(s) and a display name.
    territory_name: str = "Loos-en-Gohelle"
    territory_codes: list[str] = ["62528"]
    # Its local time: what "a visit in May" and "the first swallow of the year" mean there.
    territory_timezone: str = "Europe/Paris"

    # Plausibility flags (app.review.flags): shown to ecologists, never a reason to refuse.
    # A species' own validated data set its season and usual counts once it has this many.
    flag_min_validated: int = Field(default=30, ge=1)
    # How long a process keeps a species' season and usual counts before reading them again.
    flag_profile_seconds: float = Field(default=600.0, ge=0)
    flag_poor_accuracy_m: float = Field(default=1000.0, gt=0)
    flag_duplicate_distance_m: float = Field(default=50.0, gt=0)
    flag_duplicate_minutes: int = Field(default=60, ge=1)
    # A count is "far above" when over this many times the species' 99th-percentile count.
    flag_high_count_factor: float = Field(default=2.0, gt=1)
    # Until a species has enough validated data, the months its group is about in the
    # territory (local time); a group not listed is about all year (birds, plants...).
    season_months_by_group: dict[str, list[int]] = {
        "butterfly": [3, 4, 5, 6, 7, 8, 9, 10],
        "moth": [3, 4, 5, 6, 7, 8, 9, 10, 11],
        "insect": [3, 4, 5, 6, 7, 8, 9, 10],
        "amphibian": [2, 3, 4, 5, 6, 7, 8, 9, 10],
        "reptile": [3, 4, 5, 6, 7, 8, 9, 10],
    }

    # How often a process checks the species and zones tables for changes made by others.
    reference_cache_seconds: float = Field(default=5.0, ge=0)

    # School classes (app.classes): pupils a class may have; failed join attempts tolerated
    # per client address within the sign-in window before 429; how long a closed class's
    # pupils keep their pseudonyms before these are erased; how long a pupil token lasts (the
    # class closing ends it sooner); how long a teacher invitation code is valid.
    max_pupils_per_class: int = Field(default=40, ge=1, le=500)
    # A whole school joins from one address (its NAT): a class of 30 pupils typing the code on
    # tablets, each mistyping it two or three times, is 60 to 90 failures in a quarter of an
    # hour. 100 leaves them room, and a guesser 100 tries a quarter of an hour against 25^10
    # (about 10^14) codes.
    join_max_failures: int = Field(default=100, ge=1)
    pupil_retention_days: int = Field(default=90, ge=0)
    pupil_token_days: int = Field(default=300, ge=1)
    teacher_invitation_days: int = Field(default=60, ge=1)

    # Exports (app.exports): the links they hold and the dataset they describe.
    # The API's public address for photo links (default: the address a request came to; the
    # CLI, which has no request, uses http://localhost:8000).
    public_url: str | None = None
    dataset_title: str = (
        "Sentinelles de Loos-en-Gohelle : observations naturalistes citoyennes et comptages "
        "des protocoles (nids d'hirondelles, papillons des jardins)"
    )
    dataset_abstract: str = (
        "Observations of wildlife reported by the residents of Loos-en-Gohelle (Pas-de-Calais, "
        "France), validated by the CPIE Chaîne des terrils, and the counts of its citizen "
        "surveys: swallow and swift nests on façades, butterflies in gardens."
    )
    dataset_publisher: str = "CPIE Chaîne des terrils"
    dataset_contact_name: str = "CPIE Chaîne des terrils"
    dataset_contact_email: str = "contact@example.org"
    # GBIF takes CC0 1.0, CC BY 4.0 and CC BY-NC 4.0 only; one licence for the whole dataset.
    dataset_licence: Literal["CC0-1.0", "CC-BY-4.0", "CC-BY-NC-4.0"] = "CC-BY-4.0"
    # The dataset's identifier (SINP ``jddMetaId``, the archive's ``datasetID``); default: a
    # UUID derived from the territory's name, stable from one export to the next.
    dataset_id: uuid.UUID | None = None
    # SINP: who the data belong to (``Pr`` private body, such as an association; ``Pu`` public).
    sinp_public_status: Literal["Pu", "Re", "Ac", "Pr", "NSP"] = "Pr"
    # The TAXREF version a species without one in the reference is given in the SINP export.
    taxref_version: str = "17.0"

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
