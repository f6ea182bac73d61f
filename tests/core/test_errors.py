"""The framework's own refusals are problem+json with a stable code, and never a 500."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.accounts.models import User
from app.core.settings import Settings
from tests.factories import auth_headers, create_user
from tests.observations.test_observations import count_rows, payload

# FastAPI turns whatever fails while it reads a body (the size limit's 413 raised mid-stream, a
# ValueError for an integer too long for Python's int parser, bytes that are not UTF-8) into a
# bare HTTPException(400); app/core/errors.py answers it by its __cause__.


def json_headers(user: User, settings: Settings) -> dict[str, str]:
    return {**auth_headers(user, settings), "Content-Type": "application/json"}


def assert_problem(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"].endswith(code)
    assert body["title"]
    assert body["detail"]
    return body


def test_unknown_path_is_404(client: TestClient) -> None:
    assert_problem(client.get("/observationz"), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/observations", "GET, POST"),
        ("OPTIONS", "/observations", "GET, POST"),
        ("PATCH", "/observations/batch", "POST"),
        ("DELETE", "/baselines/import", "POST"),
        ("PATCH", "/visits/batch", "POST"),
        ("GET", "/zones/import", "POST"),
        ("PUT", "/observations/not-a-uuid", "GET, PATCH, DELETE"),
        ("DELETE", "/stats/trends", "GET"),
    ],
)
def test_wrong_method_is_405_listing_every_method_of_the_path(
    client: TestClient, method: str, path: str, allow: str
) -> None:
    """The ``Allow`` of a 405 lists every method of the path, not the first route's only, and
    a literal segment (``batch``, ``import``) is never taken for an id."""
    r = client.request(method, path, json={})
    assert_problem(r, 405, "method_not_allowed")
    assert r.headers["allow"] == allow


def test_broken_json_is_422_malformed_json(
    client: TestClient, settings: Settings, sentinel: User
) -> None:
    for text in ['{"client_id": ', "{'single': 'quotes'}", "[1, 2,]", "{} {}"]:
        r = client.post("/observations", content=text, headers=json_headers(sentinel, settings))
        body = assert_problem(r, 422, "request.malformed_json")
        assert body["errors"]


def test_body_over_the_size_limit_is_413(
    client: TestClient, session: Session, settings: Settings, sentinel: User
) -> None:
    body = json.dumps(payload(notes="x" * (settings.max_json_body_bytes + 100))).encode()
    r = client.post("/observations", content=body, headers=json_headers(sentinel, settings))
    assert_problem(r, 413, "request.too_large")
    batch = json.dumps({"observations": [payload()] * 20_000}).encode()
    assert len(batch) > settings.max_json_body_bytes
    r = client.post("/observations/batch", content=batch, headers=json_headers(sentinel, settings))
    assert_problem(r, 413, "request.too_large")
    assert count_rows(session, observer_id=sentinel.id) == 0


def test_streamed_body_over_the_size_limit_is_413(
    client: TestClient, session: Session, settings: Settings, sentinel: User
) -> None:
    body = json.dumps(payload(notes="x" * (settings.max_json_body_bytes + 100))).encode()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    r = client.post("/observations", content=chunks(), headers=json_headers(sentinel, settings))
    assert r.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in r.request.headers
    assert_problem(r, 413, "request.too_large")
    assert count_rows(session, observer_id=sentinel.id) == 0


def test_streamed_body_under_the_limit_is_accepted(
    client: TestClient, settings: Settings, sentinel: User
) -> None:
    body = json.dumps(payload()).encode()
    r = client.post(
        "/observations", content=iter([body[:10], body[10:]]),
        headers=json_headers(sentinel, settings),
    )  # fmt: skip
    assert r.status_code == 201, r.text


def test_integer_of_5000_digits_is_422(
    client: TestClient, session: Session, settings: Settings, sentinel: User
) -> None:
    text = json.dumps(payload(count=0)).replace('"count": 0', '"count": ' + "9" * 5000)
    r = client.post("/observations", content=text, headers=json_headers(sentinel, settings))
    assert_problem(r, 422, "request.malformed_json")
    r = client.post(
        "/observations/batch",
        content='{"observations": [' + text + "]}",
        headers=json_headers(sentinel, settings),
    )
    assert_problem(r, 422, "request.malformed_json")
    assert count_rows(session, observer_id=sentinel.id) == 0


def test_body_that_is_not_utf8_is_422(
    client: TestClient, settings: Settings, sentinel: User
) -> None:
    r = client.post(
        "/observations", content=b'{"notes": "\xff\xfe"}', headers=json_headers(sentinel, settings)
    )
    assert_problem(r, 422, "request.malformed_json")


def test_integer_of_thirty_digits_names_its_field(
    client: TestClient, settings: Settings, sentinel: User
) -> None:
    for field in ("count", "cd_nom", "latitude", "accuracy_m"):
        r = client.post(
            "/observations",
            json=payload(**{field: 10**30}),
            headers=auth_headers(sentinel, settings),
        )
        body = assert_problem(r, 422, "request.invalid")
        assert [e["field"] for e in body["errors"]] == [field]


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "multipart/form-data"])
def test_wrong_content_type_is_refused(
    client: TestClient, session: Session, settings: Settings, sentinel: User, content_type: str
) -> None:
    r = client.post(
        "/observations",
        content=json.dumps(payload()),
        headers={**auth_headers(sentinel, settings), "Content-Type": content_type},
    )
    assert r.status_code in (415, 422), r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] in ("request.unsupported_media_type", "request.invalid")
    assert count_rows(session, observer_id=sentinel.id) == 0


def test_json_with_a_charset_is_accepted(
    client: TestClient, settings: Settings, sentinel: User
) -> None:
    r = client.post(
        "/observations",
        content=json.dumps(payload()).encode(),
        headers={**auth_headers(sentinel, settings),
                 "Content-Type": "application/json; charset=utf-8"},
    )  # fmt: skip
    assert r.status_code == 201, r.text


def test_empty_body_is_422(client: TestClient, settings: Settings, sentinel: User) -> None:
    r = client.post("/observations", content=b"", headers=json_headers(sentinel, settings))
    body = assert_problem(r, 422, "request.invalid")
    assert [e["field"] for e in body["errors"]] == ["body"]


def test_bad_token_is_401(client: TestClient) -> None:
    r = client.post(
        "/observations", json=payload(), headers={"Authorization": "Bearer not.a.token"}
    )
    assert_problem(r, 401, "auth.invalid_token")


def test_token_of_a_deleted_account_is_401_on_capture(
    client: TestClient, session: Session, settings: Settings
) -> None:
    """The capture path trusts the token's signature but still checks that the account exists:
    a token outliving its account stores nothing."""
    gone = create_user(session, settings)
    headers = auth_headers(gone, settings)
    session.delete(gone)
    session.flush()

    single = client.post("/observations", json=payload(), headers=headers)
    batch = client.post("/observations/batch", json={"observations": [payload()]}, headers=headers)

    assert_problem(single, 401, "auth.invalid_token")
    assert_problem(batch, 401, "auth.invalid_token")
