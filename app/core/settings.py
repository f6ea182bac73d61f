"""Settings, read once from the environment (prefix ``SENTINELLES_``) or a ``.env`` file.

Everything a deployment changes lives here, so that the same code serves any commune on any
machine: the database, the secret, token lifetimes, where media go, and the territory.
"""

from __future__ import annotations

import uuid
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "change-me-development-only-secret-key"


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

    secret_key: str = DEV_SECRET
    access_token_minutes: int = Field(default=30, ge=1, le=24 * 60)
    refresh_token_days: int = Field(default=60, ge=1, le=365)
    # argon2id cost; the defaults follow RFC 9106's second recommendation. Tests lower them.
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=64 * 1024, ge=8)

    # Failed sign-ins tolerated per account and per client address in the window, before 429.
    login_max_failures: int = Field(default=5, ge=1)
    login_window_seconds: int = Field(default=15 * 60, ge=1)
    # Trust X-Forwarded-For from a reverse proxy (only behind one that sets it).
    trust_forwarded_for: bool = False

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
    join_max_failures: int = Field(default=10, ge=1)
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

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.territory_timezone)

    @model_validator(mode="after")
    def _refuse_placeholder_secret(self) -> Settings:
        if self.environment == "production" and (
            self.secret_key == DEV_SECRET or len(self.secret_key) < 32
        ):
            raise ValueError(
                "SENTINELLES_SECRET_KEY must be set to a random string of 32+ characters "
                "in production, e.g. the output of "
                "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
            )
        return self

    @property
    def dataset_uuid(self) -> uuid.UUID:
        if self.dataset_id is not None:
            return self.dataset_id
        return uuid.uuid5(uuid.NAMESPACE_URL, f"sentinelles:{self.territory_name}")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
