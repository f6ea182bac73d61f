"""Accounts through the HTTP API: registration, sign-in, refresh rotation, /me and roles."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from pydantic_core import PydanticCustomError
from sqlalchemy import Engine
from sqlmodel import Session, col, delete, select

from app.accounts import router, service
from app.accounts.models import LoginThrottle, RefreshToken, User
from app.accounts.schemas import normalise_email
from app.core.db import Database
from app.core.security import ALGORITHM, create_access_token, token_digest
from app.core.settings import Settings
from app.core.vocabulary import Role
from app.main import create_app
from app.privacy import service as privacy_service
from tests.factories import DEFAULT_PASSWORD, auth_headers, create_user

PASSWORD = "hirondelles-2026"
PROBLEM = "application/problem+json"


def register(client: TestClient, **overrides: Any) -> Any:
    body = {
        "email": f"camille-{uuid.uuid4().hex[:8]}@example.org",
        "password": PASSWORD,
        "display_name": "Camille",
        **overrides,
    }
    return client.post("/auth/register", json=body)


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> Any:
    return client.post("/auth/token", data={"username": email, "password": password})


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    return body


# --- registration -------------------------------------------------------------------------


def test_register_sign_in_and_read_me(client: TestClient) -> None:
    created = register(client, email="  Camille.Durand@Example.ORG ", display_name="  Camille ")
    assert created.status_code == 201, created.text
    user = created.json()
    assert set(user) == {
        "id", "email", "display_name", "role", "photo_licence", "credit_by_name", "created_at"
    }  # fmt: skip
    assert user["email"] == "camille.durand@example.org"
    assert user["credit_by_name"] is False  # nobody is named in the open data unless they ask
    assert user["display_name"] == "Camille"
    assert user["role"] == "sentinel"
    assert datetime.fromisoformat(user["created_at"]).utcoffset() == timedelta(0)

    tokens = sign_in(client, "CAMILLE.durand@example.org")
    assert tokens.status_code == 200, tokens.text
    pair = tokens.json()
    assert pair["token_type"] == "bearer"
    assert pair["expires_in"] == 30 * 60
    assert pair["access_token"] and pair["refresh_token"]

    me = client.get("/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert me.status_code == 200
    assert me.json() == user


def test_register_with_consent_to_be_credited_by_name(client: TestClient) -> None:
    created = register(client, email="bernadette@example.org", credit_by_name=True)
    assert created.status_code == 201, created.text
    assert created.json()["credit_by_name"] is True
    token = sign_in(client, "bernadette@example.org").json()["access_token"]
    me = client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["credit_by_name"] is True
    refused = register(client, credit_by_name=None)
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == "credit_by_name"


def test_the_profile_edit_toggles_the_credit_by_name(
    client: TestClient, session: Session, settings: Settings
) -> None:
    user = create_user(session, settings)
    headers = auth_headers(user, settings)
    assert client.get("/me", headers=headers).json()["credit_by_name"] is False
    on = client.patch("/me", json={"credit_by_name": True}, headers=headers)
    assert on.status_code == 200, on.text
    assert on.json()["credit_by_name"] is True
    # A field left out stays as it is; null is refused.
    renamed = client.patch("/me", json={"display_name": "Camille D."}, headers=headers)
    assert renamed.json()["credit_by_name"] is True
    null = client.patch("/me", json={"credit_by_name": None}, headers=headers)
    assert_problem(null, 422, "user.null_not_allowed")
    assert client.get("/me", headers=headers).json()["credit_by_name"] is True
    off = client.patch("/me", json={"credit_by_name": False}, headers=headers)
    assert off.json()["credit_by_name"] is False
    assert client.get("/me", headers=headers).json()["credit_by_name"] is False


def test_register_refuses_a_taken_email_whatever_its_case(client: TestClient) -> None:
    assert register(client, email="dominique@example.org").status_code == 201
    again = register(client, email="Dominique@EXAMPLE.org", display_name="Other")
    assert_problem(again, 409, "auth.email_taken")


def test_register_refuses_a_short_password(client: TestClient) -> None:
    body = assert_problem(register(client, password="123456789"), 422, "auth.password_too_short")
    assert body["errors"][0]["field"] == "password"


def test_register_accepts_a_password_of_exactly_ten_characters(client: TestClient) -> None:
    assert register(client, password="0123456789").status_code == 201


def test_register_refuses_an_overlong_password(client: TestClient) -> None:
    body = assert_problem(register(client, password="x" * 1025), 422, "auth.password_too_long")
    assert body["errors"][0]["field"] == "password"


@pytest.mark.parametrize(
    "email",
    [
        "not-an-email",
        "camille@",
        "@example.org",
        "camille@example",
        "ca mille@example.org",
        "camille@@example.org",
        "camille@exa_mple.org",
        "camille.@example.org",
        "",
    ],
)
def test_register_refuses_a_bad_email(client: TestClient, email: str) -> None:
    body = assert_problem(register(client, email=email), 422, "auth.email_invalid")
    assert body["errors"][0]["field"] == "email"


@pytest.mark.parametrize("display_name", ["", "   ", "x" * 81])
def test_register_refuses_a_bad_display_name(client: TestClient, display_name: str) -> None:
    body = assert_problem(register(client, display_name=display_name), 422, "request.invalid")
    assert body["errors"][0]["field"] == "display_name"


def test_register_refuses_unknown_fields(client: TestClient) -> None:
    body = assert_problem(register(client, role="admin"), 422, "request.invalid")
    assert body["errors"][0]["field"] == "role"


def test_register_refuses_missing_fields(client: TestClient) -> None:
    response = client.post("/auth/register", json={"email": "a@example.org"})
    body = assert_problem(response, 422, "request.invalid")
    assert {e["field"] for e in body["errors"]} == {"password", "display_name"}


# --- the e-mail parser --------------------------------------------------------------------


@given(st.emails())
def test_email_parser_accepts_generated_addresses(email: str) -> None:
    assert normalise_email(email) == email.lower()


@given(st.text(max_size=300))
def test_email_parser_answers_any_text_with_a_value_or_its_own_error(text: str) -> None:
    try:
        email = normalise_email(text)
    except PydanticCustomError as exc:
        assert exc.type == "auth.email_invalid"
    else:
        assert email == email.strip().lower()
        assert "@" in email and len(email) <= 254


@pytest.mark.parametrize(
    "email", ["élise@example.org", "x@localhost", "a@b.c", f"{'a' * 65}@example.org"]
)
def test_email_parser_refuses_odd_addresses(email: str) -> None:
    with pytest.raises(PydanticCustomError):
        normalise_email(email)


@pytest.mark.parametrize(
    "email", ["o'brien+sentinelles@example.org", "camille@école.fr", "x@example.xn--fiqs8s"]
)
def test_email_parser_accepts_unusual_but_valid_addresses(email: str) -> None:
    assert normalise_email(email) == email


# --- sign-in ------------------------------------------------------------------------------


def test_wrong_password_and_unknown_email_get_the_same_401(
    client: TestClient, session: Session, settings: Settings
) -> None:
    user = create_user(session, settings)
    wrong = assert_problem(
        sign_in(client, user.email, "wrong password!"), 401, "auth.invalid_credentials"
    )
    unknown = assert_problem(
        sign_in(client, "nobody@example.org", "wrong password!"), 401, "auth.invalid_credentials"
    )
    assert wrong == unknown
    assert sign_in(client, user.email, DEFAULT_PASSWORD).status_code == 200


def test_sign_in_needs_both_form_fields(client: TestClient) -> None:
    response = client.post("/auth/token", data={"username": "camille@example.org"})
    body = assert_problem(response, 422, "request.invalid")
    assert body["errors"][0]["field"] == "password"


# --- passwords verified outside any transaction ----------------------------------------------
#
# The password is verified (argon2, about 0.16 s of CPU at the production cost) between a
# read-only look-up and a short write, never inside a transaction: there it held SQLite's write
# lock, or a pooled PostgreSQL connection, for as long. These tests commit for real, on the
# real engine, and make the verification wait for another request, through a wrapper of the
# hashing function only.


@pytest.fixture
def live_client(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    """A client of an app on the real engine, committing for real (a pair's delay long enough
    for a test to observe it)."""
    app = create_app(
        settings.model_copy(update={"login_delay_seconds": 600}), database=Database(engine)
    )
    with TestClient(app, base_url="http://testserver/api/v1") as c:
        yield c
    # The failures these tests commit would count against the test client's address elsewhere.
    with Session(engine) as session:
        session.exec(delete(LoginThrottle))
        session.commit()


def _hook_verification(monkeypatch: pytest.MonkeyPatch, during: Callable[[], None]) -> None:
    """Runs ``during`` inside the first password verification, then verifies for real."""
    real_verify = service.verify_password
    pending = [during]

    def verify(password: str, password_hash: str, settings: Settings) -> bool:
        if pending:
            pending.pop()()
        return real_verify(password, password_hash, settings)

    monkeypatch.setattr(service, "verify_password", verify)
    monkeypatch.setattr(
        service, "dummy_verify", lambda password, settings: verify(password, "!", settings)
    )


def _in_another_thread(call: Callable[[], Any]) -> Any:
    """``call``'s result from a thread of its own, or TimeoutError after 10 s (without waiting
    for the thread: it may be stuck behind the very request that waits here)."""
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(call).result(timeout=10)
    finally:
        pool.shutdown(wait=False)


@pytest.mark.parametrize("account", ["known", "unknown"])
def test_a_write_goes_through_while_a_sign_in_verifies_its_password(
    live_client: TestClient, engine: Engine, monkeypatch: pytest.MonkeyPatch, account: str
) -> None:
    other = register(live_client).json()
    other_token = sign_in(live_client, other["email"]).json()["access_token"]
    email = register(live_client).json()["email"] if account == "known" else "nobody@example.org"
    seen: dict[str, Any] = {}

    def meanwhile() -> None:
        seen["connections in use"] = engine.pool.checkedout()
        seen["write"] = _in_another_thread(
            lambda: live_client.patch(
                "/me",
                json={"display_name": "Dominique"},
                headers={"Authorization": f"Bearer {other_token}"},
            )
        )

    _hook_verification(monkeypatch, meanwhile)
    answer = sign_in(live_client, email)

    assert seen["connections in use"] == 0
    assert seen["write"].status_code == 200, seen["write"].text
    assert seen["write"].json()["display_name"] == "Dominique"
    if account == "known":
        assert answer.status_code == 200, answer.text
        assert live_client.get(
            "/me", headers={"Authorization": f"Bearer {answer.json()['access_token']}"}
        ).is_success
    else:
        assert_problem(answer, 401, "auth.invalid_credentials")


def test_failures_recorded_while_a_sign_in_verifies_refuse_it(
    live_client: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guesses sent in parallel all pass the first check; those the throttle blocks meanwhile
    must still answer 429, right password or not, so that parallelism does not beat the delay."""
    email = register(live_client).json()["email"]

    def meanwhile() -> None:
        for _ in range(settings.login_max_failures):
            wrong = _in_another_thread(lambda: sign_in(live_client, email, "wrong password!"))
            assert_problem(wrong, 401, "auth.invalid_credentials")

    _hook_verification(monkeypatch, meanwhile)
    refused = sign_in(live_client, email)

    assert_problem(refused, 429, "auth.too_many_attempts")
    assert 500 < int(refused.headers["retry-after"]) <= 600
    # The refused attempt was not counted as a failure: that would have doubled the delay.
    again = sign_in(live_client, email)
    assert_problem(again, 429, "auth.too_many_attempts")
    assert int(again.headers["retry-after"]) <= 600


# --- access tokens ------------------------------------------------------------------------


def test_me_needs_a_token(client: TestClient) -> None:
    assert_problem(client.get("/me"), 401, "auth.unauthenticated")


@pytest.mark.parametrize(
    "authorization", ["Bearer garbage", "Bearer ", "Basic Zm9vOmJhcg==", "garbage", "Bearer a.b.c"]
)
def test_me_refuses_a_garbage_authorization_header(client: TestClient, authorization: str) -> None:
    response = client.get("/me", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["code"] in ("auth.unauthenticated", "auth.invalid_token")


def test_expired_access_token_gets_401(
    client: TestClient, session: Session, settings: Settings
) -> None:
    user = create_user(session, settings)
    expired_settings = settings.model_copy(update={"access_token_minutes": -1})
    token, _ = create_access_token(user.id, expired_settings)
    response = client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert_problem(response, 401, "auth.invalid_token")


def test_token_signed_with_another_key_gets_401(
    client: TestClient, session: Session, settings: Settings
) -> None:
    user = create_user(session, settings)
    claims = {
        "sub": str(user.id),
        "typ": "access",
        "exp": datetime.now(UTC) + timedelta(minutes=5),
    }
    forged = jwt.encode(claims, "another-secret-key-that-is-long-enough-42", algorithm=ALGORITHM)
    response = client.get("/me", headers={"Authorization": f"Bearer {forged}"})
    assert_problem(response, 401, "auth.invalid_token")


# --- refresh tokens -----------------------------------------------------------------------


def refresh(client: TestClient, token: str) -> Any:
    return client.post("/auth/refresh", json={"refresh_token": token})


def test_refresh_rotates_the_token(
    client: TestClient, session: Session, settings: Settings
) -> None:
    user = create_user(session, settings)
    first = sign_in(client, user.email, DEFAULT_PASSWORD).json()

    second = refresh(client, first["refresh_token"])
    assert second.status_code == 200, second.text
    pair = second.json()
    assert pair["token_type"] == "bearer"
    assert pair["refresh_token"] != first["refresh_token"]
    me = client.get("/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert me.json()["id"] == str(user.id)

    assert refresh(client, pair["refresh_token"]).status_code == 200


def test_refresh_tokens_are_stored_only_as_digests(
    client: TestClient, session: Session, settings: Settings
) -> None:
    user = create_user(session, settings)
    pair = sign_in(client, user.email, DEFAULT_PASSWORD).json()
    stored = session.exec(select(RefreshToken).where(col(RefreshToken.user_id) == user.id)).one()
    assert stored.token_digest == token_digest(pair["refresh_token"])
    assert pair["refresh_token"] not in stored.token_digest


def test_a_used_refresh_token_is_refused_and_revokes_its_family(
    client: TestClient, session: Session, settings: Settings
) -> None:
    user = create_user(session, settings)
    first = sign_in(client, user.email, DEFAULT_PASSWORD).json()["refresh_token"]
    second = refresh(client, first).json()["refresh_token"]
    third = refresh(client, second).json()["refresh_token"]
    # Another sign-in (another phone) is another family and must survive.
    other_device = sign_in(client, user.email, DEFAULT_PASSWORD).json()["refresh_token"]

    assert_problem(refresh(client, first), 401, "auth.refresh_token_reused")
    # The newest token of the chain, held by whoever replayed or by the real owner, is dead too.
    assert_problem(refresh(client, third), 401, "auth.invalid_refresh_token")
    assert refresh(client, other_device).status_code == 200


def test_unknown_and_expired_refresh_tokens_get_401(
    client: TestClient, session: Session, settings: Settings
) -> None:
    assert_problem(refresh(client, "not-a-token"), 401, "auth.invalid_refresh_token")

    user = create_user(session, settings)
    token = sign_in(client, user.email, DEFAULT_PASSWORD).json()["refresh_token"]
    stored = session.exec(
        select(RefreshToken).where(col(RefreshToken.token_digest) == token_digest(token))
    ).one()
    stored.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    session.add(stored)
    session.flush()
    assert_problem(refresh(client, token), 401, "auth.refresh_token_expired")


@pytest.mark.parametrize(
    "body", [{}, {"refresh_token": ""}, {"refresh_token": "x", "extra": 1}, {"refresh_token": 3}]
)
def test_refresh_refuses_malformed_bodies(client: TestClient, body: dict[str, Any]) -> None:
    assert_problem(client.post("/auth/refresh", json=body), 422, "request.invalid")


# --- roles --------------------------------------------------------------------------------


def test_admin_changes_a_role(client: TestClient, session: Session, settings: Settings) -> None:
    admin = create_user(session, settings, role=Role.admin)
    user = create_user(session, settings)
    response = client.patch(
        f"/users/{user.id}", json={"role": "ecologist"}, headers=auth_headers(admin, settings)
    )
    assert response.status_code == 200, response.text
    assert response.json()["role"] == "ecologist"
    assert response.json()["id"] == str(user.id)

    me = client.get("/me", headers=auth_headers(user, settings))
    assert me.json()["role"] == "ecologist"


@pytest.mark.parametrize("role", [Role.sentinel, Role.teacher, Role.ecologist])
def test_only_admins_change_roles(
    client: TestClient, session: Session, settings: Settings, role: Role
) -> None:
    caller = create_user(session, settings, role=role)
    response = client.patch(
        f"/users/{caller.id}", json={"role": "admin"}, headers=auth_headers(caller, settings)
    )
    assert_problem(response, 403, "auth.role_required")
    assert client.get("/me", headers=auth_headers(caller, settings)).json()["role"] == role.value


def test_changing_a_role_needs_a_token(client: TestClient) -> None:
    assert_problem(
        client.patch(f"/users/{uuid.uuid4()}", json={"role": "admin"}), 401, "auth.unauthenticated"
    )


def test_changing_the_role_of_an_unknown_user_is_404(
    client: TestClient, session: Session, settings: Settings
) -> None:
    admin = create_user(session, settings, role=Role.admin)
    response = client.patch(
        f"/users/{uuid.uuid4()}", json={"role": "teacher"}, headers=auth_headers(admin, settings)
    )
    assert_problem(response, 404, "user.not_found")


@pytest.mark.parametrize("body", [{"role": "superuser"}, {}, {"role": "admin", "email": "x"}])
def test_changing_a_role_refuses_bad_bodies(
    client: TestClient, session: Session, settings: Settings, body: dict[str, Any]
) -> None:
    admin = create_user(session, settings, role=Role.admin)
    user = create_user(session, settings)
    response = client.patch(f"/users/{user.id}", json=body, headers=auth_headers(admin, settings))
    assert_problem(response, 422, "request.invalid")


def test_changing_a_role_refuses_a_malformed_id(
    client: TestClient, session: Session, settings: Settings
) -> None:
    admin = create_user(session, settings, role=Role.admin)
    response = client.patch(
        "/users/not-a-uuid", json={"role": "teacher"}, headers=auth_headers(admin, settings)
    )
    assert_problem(response, 422, "request.invalid")


def test_openapi_documents_the_accounts_endpoints(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/api/v1/auth/register" in paths
    assert {"401", "429"} <= set(paths["/api/v1/auth/token"]["post"]["responses"])
    assert "403" in paths["/api/v1/users/{user_id}"]["patch"]["responses"]


def test_one_refresh_token_presented_twice_at_once_yields_at_most_one_session(
    settings: Settings, engine: Engine
) -> None:
    """Real commits on several connections: the token is claimed by a conditional UPDATE, so
    two requests racing with it cannot both get new tokens."""
    app = create_app(settings, database=Database(engine))
    email = f"race-{uuid.uuid4().hex}@example.org"
    with Session(engine) as setup:
        create_user(setup, settings, email=email)
        setup.commit()
    try:
        with (
            TestClient(app, base_url="http://testserver/api/v1") as c,
            ThreadPoolExecutor(2) as pool,
        ):
            token = sign_in(c, email, DEFAULT_PASSWORD).json()["refresh_token"]
            answers = list(pool.map(lambda _: refresh(c, token), range(2)))
            statuses = sorted(a.status_code for a in answers)
            assert statuses == [200, 401]
            for answer in answers:
                if answer.status_code == 200 and 401 in statuses:
                    # The replay revoked the chain, the winner's new token included.
                    assert refresh(c, answer.json()["refresh_token"]).status_code == 401
    finally:
        with Session(engine) as cleanup:
            cleanup.exec(delete(User).where(col(User.email) == email))
            cleanup.commit()


def test_a_write_goes_through_while_a_registration_hashes_its_password(
    live_client: TestClient, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = register(live_client).json()
    other_token = sign_in(live_client, other["email"]).json()["access_token"]
    real_hash = router.hash_password
    seen: dict[str, Any] = {}

    def hash_password(password: str, settings: Settings) -> str:
        seen["connections in use"] = engine.pool.checkedout()
        seen["write"] = _in_another_thread(
            lambda: live_client.patch(
                "/me",
                json={"display_name": "Dominique"},
                headers={"Authorization": f"Bearer {other_token}"},
            )
        )
        return real_hash(password, settings)

    monkeypatch.setattr(router, "hash_password", hash_password)
    created = register(live_client)

    assert created.status_code == 201, created.text
    assert seen["connections in use"] == 0
    assert seen["write"].status_code == 200, seen["write"].text
    assert sign_in(live_client, created.json()["email"]).status_code == 200


@pytest.mark.parametrize("password", [PASSWORD, "not the password"])
def test_a_write_goes_through_while_a_deletion_verifies_its_password(
    live_client: TestClient, engine: Engine, monkeypatch: pytest.MonkeyPatch, password: str
) -> None:
    other = register(live_client).json()
    other_token = sign_in(live_client, other["email"]).json()["access_token"]
    leaving = register(live_client).json()
    leaving_token = sign_in(live_client, leaving["email"]).json()["access_token"]
    real_verify = privacy_service.verify_password
    seen: dict[str, Any] = {}

    def verify(password: str, password_hash: str, settings: Settings) -> bool:
        seen["connections in use"] = engine.pool.checkedout()
        seen["write"] = _in_another_thread(
            lambda: live_client.patch(
                "/me",
                json={"display_name": "Dominique"},
                headers={"Authorization": f"Bearer {other_token}"},
            )
        )
        return real_verify(password, password_hash, settings)

    monkeypatch.setattr(privacy_service, "verify_password", verify)
    answer = live_client.post(
        "/me/delete",
        json={"password": password},
        headers={"Authorization": f"Bearer {leaving_token}"},
    )

    assert seen["connections in use"] == 0
    assert seen["write"].status_code == 200, seen["write"].text
    if password == PASSWORD:
        assert answer.status_code == 204, answer.text
        assert_problem(sign_in(live_client, leaving["email"]), 401, "auth.invalid_credentials")
    else:
        assert_problem(answer, 401, "auth.wrong_password")
        assert sign_in(live_client, leaving["email"]).status_code == 200
