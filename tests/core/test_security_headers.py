"""Security headers on every answer, HSTS over HTTPS only, CORS only for the listed origins."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.core.db import Database
from app.core.settings import Settings
from app.main import create_app

ORIGIN = "https://app.sentinelles.example.org"


def assert_hardened(response: Any) -> str:
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
    csp = str(response.headers["content-security-policy"])
    assert "frame-ancestors 'none'" in csp
    return csp


def boom() -> None:
    raise RuntimeError("an unexpected failure")


@pytest.fixture
def failing_app(app: FastAPI) -> FastAPI:
    app.add_api_route("/api/v1/boom-for-test", boom)
    return app


def test_json_answers_and_errors_carry_the_strict_policy(failing_app: FastAPI) -> None:
    with TestClient(failing_app, raise_server_exceptions=False) as c:
        answers = [
            c.get("/api/v1/species?limit=1"),
            c.get("/api/v1/no-such-route"),
            c.post("/api/v1/auth/token", data={}),
            c.get("/api/v1/boom-for-test"),
            c.get("/healthz"),
        ]
    assert [a.status_code for a in answers] == [200, 404, 422, 500, 200]
    for answer in answers:
        csp = assert_hardened(answer)
        assert csp.startswith("default-src 'none'")
        assert "script-src" not in csp  # no script at all
        assert "strict-transport-security" not in answer.headers  # plain HTTP


def test_the_documentation_loads_its_files_from_this_host_only(client: TestClient) -> None:
    with TestClient(client.app) as c:
        swagger = c.get("/docs")
        redoc = c.get("/redoc")
    for page in (swagger, redoc):
        assert page.status_code == 200
        csp = assert_hardened(page)
        assert "script-src 'self' 'unsafe-inline';" in csp
        assert "https:" not in csp and "http:" not in csp
    assert '"/static/vendor/swagger-ui-dist/swagger-ui-bundle.js"' in swagger.text
    assert '"/static/vendor/redoc/redoc.standalone.js"' in redoc.text
    for name in ("swagger-ui-dist/swagger-ui-bundle.js", "redoc/redoc.standalone.js"):
        with TestClient(client.app) as c:
            assert c.get(f"/static/vendor/{name}").status_code == 200


def test_pages_allow_scripts_from_this_host_and_no_inline_script(client: TestClient) -> None:
    with TestClient(client.app) as c:
        page = c.get("/login")
    csp = assert_hardened(page)
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp
    assert "form-action 'self'" in csp and "http" not in csp


def test_a_configured_tile_host_is_the_one_other_origin_of_the_pages(
    settings: Settings, db: Database
) -> None:
    tiled = settings.model_copy(
        update={"map_tile_url": "https://tiles.example.org/{z}/{x}/{y}.png"}
    )
    with TestClient(create_app(tiled, database=db)) as c:
        csp = c.get("/login").headers["content-security-policy"]
    assert "img-src 'self' data: blob: https://tiles.example.org;" in csp
    assert csp.count("https://") == 1


def test_hsts_only_when_the_client_came_over_https(settings: Settings, db: Database) -> None:
    proxied = settings.model_copy(update={"trusted_proxies": ["10.0.0.0/8"]})
    app = create_app(proxied, database=db)
    with TestClient(app, base_url="https://testserver") as direct_https:
        https = direct_https.get("/healthz")
    with TestClient(app, client=("10.0.0.2", 4000)) as behind_proxy:
        forwarded = behind_proxy.get("/healthz", headers={"X-Forwarded-Proto": "https"})
        plain = behind_proxy.get("/healthz")
    with TestClient(app, client=("192.0.2.1", 4000)) as untrusted:
        claimed = untrusted.get("/healthz", headers={"X-Forwarded-Proto": "https"})

    assert https.headers["strict-transport-security"] == "max-age=31536000"
    assert forwarded.headers["strict-transport-security"] == "max-age=31536000"
    assert "strict-transport-security" not in plain.headers
    assert "strict-transport-security" not in claimed.headers


@pytest.fixture
def cors_client(settings: Settings, db: Database) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update={"cors_allow_origins": [ORIGIN]}), database=db)
    with TestClient(app, base_url="http://testserver/api/v1") as c:
        yield c


def preflight(client: TestClient, origin: str) -> Any:
    return client.options(
        "/observations",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )


def test_no_cross_origin_access_by_default(client: TestClient) -> None:
    answer = client.get("/species?limit=1", headers={"Origin": ORIGIN})
    assert answer.status_code == 200
    assert "access-control-allow-origin" not in answer.headers
    assert "access-control-allow-origin" not in preflight(client, ORIGIN).headers


def test_listed_origins_only(cors_client: TestClient) -> None:
    allowed = preflight(cors_client, ORIGIN)
    simple = cors_client.get("/species?limit=1", headers={"Origin": ORIGIN})
    other = preflight(cors_client, "https://evil.example.com")

    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in allowed.headers["access-control-allow-methods"]
    assert "access-control-allow-credentials" not in allowed.headers
    assert simple.headers["access-control-allow-origin"] == ORIGIN
    assert "access-control-allow-origin" not in other.headers
    assert_hardened(allowed)


def test_a_cors_origin_must_be_an_origin() -> None:
    with pytest.raises(ValueError, match="scheme://host"):
        Settings(_env_file=None, environment="test", cors_allow_origins=["app.example.org"])  # type: ignore[call-arg]
