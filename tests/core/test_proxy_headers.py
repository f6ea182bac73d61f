"""Forwarding headers through a real ``sentinelles serve`` process: believed only from the
configured proxies, so that a client cannot pick the address its failed sign-ins count against.

uvicorn itself rewrites the client address from ``X-Forwarded-For`` (by default when the peer is
127.0.0.1) before the application sees the request: a TestClient cannot show that, a server
process on a free localhost port does.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, delete, select

from app.accounts.models import LoginThrottle

SENTINELLES = Path(sys.executable).with_name("sentinelles")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(self, base_url: str, process: subprocess.Popen[bytes]) -> None:
        self.base_url = base_url
        self.process = process

    def sign_in(self, email: str, forwarded_for: str | None = None) -> httpx.Response:
        headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
        return httpx.post(
            f"{self.base_url}/api/v1/auth/token",
            data={"username": email, "password": "not the password"},
            headers=headers,
            timeout=10,
        )


@pytest.fixture
def serve(engine: Engine, tmp_path: Path) -> Iterator[object]:
    """Starts ``sentinelles serve`` on the test database with the given settings."""
    servers: list[subprocess.Popen[bytes]] = []

    def start(**settings: str) -> Server:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINELLES_")}
        env.update(
            SENTINELLES_ENVIRONMENT="test",
            SENTINELLES_DATABASE_URL=engine.url.render_as_string(hide_password=False),
            SENTINELLES_DATABASE_POOL_SIZE="2",
            SENTINELLES_ARGON2_TIME_COST="1",
            SENTINELLES_ARGON2_MEMORY_KIB="8",
            SENTINELLES_MEDIA_DIR=str(tmp_path / "media"),
            SENTINELLES_LOGIN_ADDRESS_MAX_FAILURES="3",
        )
        env.update({f"SENTINELLES_{k.upper()}": v for k, v in settings.items()})
        process = subprocess.Popen(
            [str(SENTINELLES), "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        servers.append(process)
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                assert process.stderr is not None
                pytest.fail(f"the server stopped: {process.stderr.read().decode()}")
            try:
                if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                    return Server(base_url, process)
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        pytest.fail("the server did not answer within 60 s")

    try:
        yield start
    finally:
        for process in servers:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        with Session(engine) as cleanup:
            cleanup.exec(
                delete(LoginThrottle).where(
                    col(LoginThrottle.key).startswith("ip:")
                    | col(LoginThrottle.key).contains("@proxy-test.example.org")
                )
            )
            cleanup.commit()


def address_keys(engine: Engine) -> set[str]:
    with Session(engine) as session:
        keys = session.exec(
            select(LoginThrottle.key).where(col(LoginThrottle.key).startswith("ip:"))
        ).all()
    return set(keys)


def email() -> str:
    return f"{uuid.uuid4().hex[:12]}@proxy-test.example.org"


def test_forwarded_for_does_not_change_the_throttle_key_when_no_proxy_is_trusted(
    serve: object, engine: Engine
) -> None:
    server = serve()  # type: ignore[operator]
    # A fresh claimed address and a fresh account at each attempt: all count against the peer.
    answers = [server.sign_in(email(), f"198.51.100.{n}") for n in range(4)]

    assert [a.status_code for a in answers] == [401, 401, 401, 429]
    assert int(answers[-1].headers["Retry-After"]) > 0
    assert address_keys(engine) == {"ip:127.0.0.1"}
    assert "server" not in answers[0].headers


def test_forwarded_for_sets_the_throttle_key_when_the_peer_is_a_trusted_proxy(
    serve: object, engine: Engine
) -> None:
    server = serve(trusted_proxies='["127.0.0.1", "10.0.0.0/8"]')  # type: ignore[operator]
    spread = [server.sign_in(email(), f"198.51.100.{n}") for n in range(4)]
    # A client writing its own header before the proxy's address gains nothing: the last
    # untrusted hop counts (10.1.2.3 is a trusted proxy of the chain).
    chained = [server.sign_in(email(), f"192.0.2.{n}, 203.0.113.9, 10.1.2.3") for n in range(4)]

    assert [a.status_code for a in spread] == [401, 401, 401, 401]
    assert [a.status_code for a in chained] == [401, 401, 401, 429]
    assert address_keys(engine) == {
        *(f"ip:198.51.100.{n}" for n in range(4)),
        "ip:203.0.113.9",
    }


def test_the_deprecated_setting_still_believes_the_header(serve: object, engine: Engine) -> None:
    server = serve(trust_forwarded_for="true")  # type: ignore[operator]
    answers = [server.sign_in(email(), f"198.51.100.{n}") for n in range(4)]

    assert [a.status_code for a in answers] == [401] * 4
    assert address_keys(engine) == {f"ip:198.51.100.{n}" for n in range(4)}
