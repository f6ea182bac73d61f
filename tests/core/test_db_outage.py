"""The database goes away and comes back: the service says so at once, then heals by itself.

A TCP proxy (pure Python, in this module) sits between the app and PostgreSQL; the tests cut it
and restore it while the app keeps running. During the cut every request must answer ``503``
problem+json with ``Retry-After`` within 5 s (a phone then retries later, instead of hanging
with a spinner), ``/readyz`` says not ready, and once the database is back requests succeed
again without restarting anything and with every acknowledged write still there.

Two ways a database goes away are tried: the connections drop and new ones are refused (the
server stopped), and new connections are accepted but never answered (a host gone from a
network whose load balancer or firewall still takes the connection: what only a connect
timeout can bound).

PostgreSQL only, by design: SQLite is a file in the app's own process, with no network to lose.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import suppress
from typing import Any, Literal, Protocol

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func
from sqlalchemy.engine import make_url
from sqlmodel import Session, col, select

from app.accounts.models import User
from app.core.settings import Settings
from app.main import create_app
from app.observations.models import Observation
from tests.factories import auth_headers, create_user
from tests.observations.test_observations import payload

# The promise to a phone: an answer within this, whatever the database does.
ANSWER_WITHIN_SECONDS = 5.0

CutMode = Literal["refuse", "silent"]


class Response(Protocol):
    """What the tests read of an answer (the test client's HTTP library's ``Response``)."""

    @property
    def status_code(self) -> int: ...

    @property
    def text(self) -> str: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    def json(self) -> Any: ...


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target, in threads; can be cut and restored.

    ``cut("refuse")`` closes every forwarded connection and the listening socket (a connection
    attempt is then refused); ``cut("silent")`` closes the forwarded connections but keeps
    accepting new ones, which it holds open without forwarding a byte.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = _free_port()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._mode: CutMode | None = None

    def start(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port), reuse_port=False)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self, mode: CutMode) -> None:
        with self._lock:
            self._mode = mode
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            _close(sock)
        if mode == "refuse" and self._listener is not None:
            _close(self._listener)
            self._listener = None

    def restore(self) -> None:
        with self._lock:
            self._mode = None
            held, self._sockets = self._sockets, set()
        for sock in held:  # connections accepted while silent: dropped, as a real reset would
            _close(sock)
        if self._listener is None:
            self.start()

    def stop(self) -> None:
        self.cut("refuse")

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # the listener was closed
            with self._lock:
                self._sockets.add(client)
                silent = self._mode == "silent"
            if not silent:
                threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            _close(client)
            return
        upstream.settimeout(None)
        with self._lock:
            self._sockets.add(upstream)
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=_pipe, args=(source, sink), daemon=True).start()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        _close(source)
        _close(sink)


def _close(sock: socket.socket) -> None:
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with suppress(OSError):
        sock.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def proxy(backend: str, engine: Engine) -> Iterator[TcpProxy]:
    if backend != "postgresql":
        pytest.skip("SQLite is a file inside the app's process: there is no network to cut")
    url = engine.url
    running = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    running.start()
    yield running
    running.stop()


@pytest.fixture
def outage_settings(settings: Settings, engine: Engine, proxy: TcpProxy) -> Settings:
    """The test settings with the database reached through the proxy; its timeouts are the
    shipped defaults."""
    proxied = make_url(engine.url).set(host="127.0.0.1", port=proxy.port)
    return settings.model_copy(
        update={
            "database_url": proxied.render_as_string(hide_password=False),
            "database_pool_size": 4,
        }
    )


@pytest.fixture
def sentinel(committed: Engine, settings: Settings) -> User:
    """A committed user of this test's own (its rows are deleted after the test)."""
    with Session(committed) as session:
        user = create_user(session, settings, email=f"outage-{uuid.uuid4().hex}@example.org")
        session.commit()
        session.refresh(user)
        session.expunge(user)
    return user


@pytest.fixture
def client(outage_settings: Settings) -> Iterator[TestClient]:
    app = create_app(outage_settings)
    with TestClient(app, base_url="http://testserver/api/v1") as c:
        yield c
    app.state.db.bind.dispose()


def timed(call: Callable[[], Response]) -> tuple[float, Response]:
    """How long ``call`` took to answer, and its answer."""
    start = time.monotonic()
    response = call()
    return time.monotonic() - start, response


def wait_until_ready(client: TestClient, *, within: float) -> bool:
    """Asks ``/readyz`` as an orchestrator does, until it says ready or ``within`` passed."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if client.get("/readyz").status_code == 200:
            return True
        time.sleep(0.2)
    return False


def burst(
    client: TestClient, n: int, call: Callable[[TestClient], Response]
) -> list[tuple[float, Response]]:
    """``n`` requests at once (more than the pool's connections), each timed."""
    results: list[tuple[float, Response]] = []
    lock = threading.Lock()

    def one() -> None:
        result = timed(lambda: call(client))
        with lock:
            results.append(result)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == n, "a request hung"
    return results


def assert_unavailable(response: Response, elapsed: float) -> None:
    """A 503 a phone can act on, in time."""
    assert elapsed < ANSWER_WITHIN_SECONDS, f"answered after {elapsed:.1f} s"
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) >= 1
    body = response.json()
    assert body["status"] == 503
    assert body["code"] == "service.database_unavailable"


@pytest.mark.parametrize("mode", ["refuse", "silent"])
def test_outage_answers_503_quickly_then_heals(
    mode: CutMode,
    client: TestClient,
    proxy: TcpProxy,
    sentinel: User,
    settings: Settings,
    engine: Engine,
) -> None:
    headers = auth_headers(sentinel, settings)
    acknowledged = payload()
    created = client.post("/observations", json=acknowledged, headers=headers)
    assert created.status_code == 201, created.text
    assert client.get("/readyz").status_code == 200

    proxy.cut(mode)

    # More requests at once than the pool has connections: none waits for the others' attempts.
    for elapsed, response in burst(client, 8, lambda c: c.get("/observations", headers=headers)):
        assert_unavailable(response, elapsed)

    during_outage = payload()
    for call in (
        lambda: client.get("/observations", params={"mine": "true"}, headers=headers),
        lambda: client.post("/observations", json=during_outage, headers=headers),
        lambda: client.post(
            "/observations/batch", json={"observations": [payload()]}, headers=headers
        ),
    ):
        elapsed, response = timed(call)
        assert_unavailable(response, elapsed)
    elapsed, ready = timed(lambda: client.get("/readyz"))
    assert elapsed < ANSWER_WITHIN_SECONDS
    assert ready.status_code == 503
    assert ready.json()["database"] == "unreachable"

    proxy.restore()

    # No restart: the same app, the same engine, heals on its next requests (within a second:
    # right after a failed attempt, the engine waits a moment before trying again).
    assert wait_until_ready(client, within=ANSWER_WITHIN_SECONDS)
    listed = client.get("/observations", params={"mine": "true", "limit": 500}, headers=headers)
    assert listed.status_code == 200, listed.text
    assert acknowledged["client_id"] in {item["client_id"] for item in listed.json()["items"]}
    # The write refused during the outage was not stored; the phone's resend stores it once.
    resent = client.post("/observations", json=during_outage, headers=headers)
    assert resent.status_code == 201, resent.text
    again = client.post("/observations", json=acknowledged, headers=headers)
    assert again.status_code == 200

    with Session(engine) as session:
        stored = session.exec(
            select(func.count()).where(col(Observation.observer_id) == sentinel.id)
        ).one()
    assert stored == 2
