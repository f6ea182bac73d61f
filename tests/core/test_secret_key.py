"""The secret that signs tokens: never a published one; generated once per install otherwise."""

from __future__ import annotations

import multiprocessing
import stat
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from app.core.db import Database
from app.core.settings import DEV_SECRET, Settings
from app.core.vocabulary import Role
from app.main import create_app
from tests.factories import DEFAULT_PASSWORD, auth_headers, create_user


def development(settings: Settings, **changes: Any) -> Settings:
    """The test settings as a development install without a configured secret would read
    them (validators run again, unlike ``model_copy``)."""
    values = settings.model_dump()
    values.update({"environment": "development", "secret_key": "", **changes})
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_a_token_signed_with_the_published_placeholder_is_refused(
    settings: Settings, db: Database, session: Any, tmp_path: Path
) -> None:
    admin = create_user(session, settings, role=Role.admin)
    install = development(settings, secret_key_file=tmp_path / "secret-key")
    forged = auth_headers(admin, settings.model_copy(update={"secret_key": DEV_SECRET}))

    with TestClient(create_app(install, database=db), base_url="http://testserver/api/v1") as c:
        refused = c.get("/audit", headers=forged)
        signed_in = c.post(
            "/auth/token", data={"username": admin.email, "password": DEFAULT_PASSWORD}
        )
        token = signed_in.json()["access_token"]
        accepted = c.get("/audit", headers={"Authorization": f"Bearer {token}"})

    assert refused.status_code == 401
    assert refused.json()["code"] == "auth.invalid_token"
    assert accepted.status_code == 200
    assert install.secret_key != DEV_SECRET


def test_the_placeholder_set_explicitly_is_ignored_outside_production(
    settings: Settings, db: Database, session: Any, tmp_path: Path
) -> None:
    admin = create_user(session, settings, role=Role.admin)
    install = development(settings, secret_key=DEV_SECRET, secret_key_file=tmp_path / "key")
    forged = auth_headers(admin, settings.model_copy(update={"secret_key": DEV_SECRET}))

    with TestClient(create_app(install, database=db), base_url="http://testserver/api/v1") as c:
        assert c.get("/audit", headers=forged).status_code == 401
    assert install.secret_key == (tmp_path / "key").read_text().strip()


def test_every_process_of_an_install_reads_the_same_generated_key(
    settings: Settings, db: Database, session: Any, tmp_path: Path
) -> None:
    admin = create_user(session, settings, role=Role.admin)
    path = tmp_path / "data" / "secret-key"
    first = development(settings, secret_key_file=path)
    second = development(settings, secret_key_file=path)

    with TestClient(create_app(first, database=db), base_url="http://testserver/api/v1") as c:
        token = c.post(
            "/auth/token", data={"username": admin.email, "password": DEFAULT_PASSWORD}
        ).json()["access_token"]
    with TestClient(create_app(second, database=db), base_url="http://testserver/api/v1") as c:
        answer = c.get("/audit", headers={"Authorization": f"Bearer {token}"})

    assert answer.status_code == 200
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.read_text().strip()) >= 32


def test_the_default_place_is_beside_the_sqlite_database_or_the_media(tmp_path: Path) -> None:
    beside_db = Settings(
        _env_file=None,  # type: ignore[call-arg]
        environment="development",
        database_url=f"sqlite:///{tmp_path}/db/sentinelles.db",
    )
    beside_media = Settings(
        _env_file=None,  # type: ignore[call-arg]
        environment="development",
        database_url="postgresql+psycopg://u@127.0.0.1:1/x",
        media_dir=tmp_path / "data" / "media",
    )
    assert beside_db.secret_key_path == tmp_path / "db" / "secret-key"
    assert beside_media.secret_key_path == tmp_path / "data" / "secret-key"
    assert beside_db.secret_key == (tmp_path / "db" / "secret-key").read_text().strip()
    assert beside_media.secret_key == (tmp_path / "data" / "secret-key").read_text().strip()


def _start_worker(path: str, barrier: Any, results: Any) -> None:
    barrier.wait()
    key = Settings(
        _env_file=None,  # type: ignore[call-arg]
        environment="development",
        secret_key_file=Path(path),
    ).secret_key
    results.put(key)


def test_workers_starting_at_once_agree_on_one_key(tmp_path: Path) -> None:
    """Eight processes released together, as uvicorn's workers start: one creates the key,
    the others read it; none reads a half-written file or writes its own over it."""
    workers = 8
    context = multiprocessing.get_context("fork")
    path = tmp_path / "race" / "secret-key"
    for _ in range(3):
        path.unlink(missing_ok=True)
        barrier = context.Barrier(workers)
        results = context.Queue()
        processes = [
            context.Process(target=_start_worker, args=(str(path), barrier, results))
            for _ in range(workers)
        ]
        for process in processes:
            process.start()
        keys = {results.get(timeout=30) for _ in range(workers)}
        for process in processes:
            process.join(timeout=30)
            assert process.exitcode == 0
        assert keys == {path.read_text().strip()}
        assert [p.name for p in path.parent.iterdir()] == ["secret-key"]  # no temporary left


def test_production_refuses_a_missing_or_published_secret(tmp_path: Path) -> None:
    for secret in ("", DEV_SECRET, "too-short"):
        with pytest.raises(ValidationError, match="SENTINELLES_SECRET_KEY must be set"):
            Settings(
                _env_file=None,  # type: ignore[call-arg]
                environment="production",
                secret_key=secret,
                database_url=f"sqlite:///{tmp_path}/sentinelles.db",
            )
    assert not (tmp_path / "secret-key").exists()


def test_production_reads_a_secret_file_it_is_given_and_never_creates_one(tmp_path: Path) -> None:
    given = tmp_path / "run-secrets" / "sentinelles"
    with pytest.raises(ValidationError, match="cannot read the secret key file"):
        Settings(
            _env_file=None,  # type: ignore[call-arg]
            environment="production",
            secret_key_file=given,
        )
    assert not given.exists()
    given.parent.mkdir()
    given.write_text("k" * 48 + "\n")
    production = Settings(
        _env_file=None,  # type: ignore[call-arg]
        environment="production",
        secret_key_file=given,
    )
    assert production.secret_key == "k" * 48


def test_a_damaged_key_file_stops_the_start_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "secret-key"
    path.write_text("")
    with pytest.raises(ValidationError, match="delete it to have a new one generated"):
        Settings(
            _env_file=None,  # type: ignore[call-arg]
            environment="development",
            secret_key_file=path,
        )


def test_a_key_file_that_cannot_be_created_stops_the_start_with_a_clear_message(
    tmp_path: Path,
) -> None:
    (tmp_path / "not-a-directory").write_text("")
    with pytest.raises(ValidationError, match="cannot create the secret key file"):
        Settings(
            _env_file=None,  # type: ignore[call-arg]
            environment="development",
            secret_key_file=tmp_path / "not-a-directory" / "secret-key",
        )
