"""Copies of the same submission racing each other (a phone retrying on a flaky network, or
two sync workers) still store one observation. These tests commit for real, on several
connections, with a user of their own."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from app.accounts.models import User
from app.core.settings import Settings
from app.observations.models import Observation
from tests.factories import auth_headers
from tests.observations.test_observations import payload


def race(n: int, clients: Callable[[], TestClient], call: Callable[[TestClient], Any]) -> list[Any]:
    """Runs ``call`` in ``n`` threads released at the same moment; their answers in order."""
    per_thread = [clients() for _ in range(n)]
    barrier = threading.Barrier(n)
    answers: list[Any] = [None] * n
    failures: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            answers[i] = call(per_thread[i])
        except BaseException as exc:  # reported below, with the test's assertion
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not failures, failures
    return answers


def rows_of(engine: Engine, observer_id: uuid.UUID, client_ids: list[str]) -> int:
    with Session(engine) as session:
        query = (
            select(func.count())
            .select_from(Observation)
            .where(
                col(Observation.observer_id) == observer_id,
                col(Observation.client_id).in_([uuid.UUID(c) for c in client_ids]),
            )
        )
        return session.exec(query).one()


@pytest.mark.parametrize("n", [2, 8])
def test_concurrent_posts_of_one_client_id_store_one_row(
    n: int,
    engine: Engine,
    settings: Settings,
    racer: User,
    clients: Callable[[], TestClient],
) -> None:
    body = payload()
    headers = auth_headers(racer, settings)
    answers = race(n, clients, lambda c: c.post("/observations", json=body, headers=headers))

    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] * (n - 1) + [201], [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    assert rows_of(engine, racer.id, [body["client_id"]]) == 1


def test_concurrent_batches_of_the_same_items_store_each_once(
    engine: Engine,
    settings: Settings,
    racer: User,
    clients: Callable[[], TestClient],
) -> None:
    items = [payload(count=i) for i in range(20)]
    client_ids = [item["client_id"] for item in items]
    headers = auth_headers(racer, settings)
    n = 4
    answers = race(
        n,
        clients,
        lambda c: c.post("/observations/batch", json={"observations": items}, headers=headers),
    )
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    results = [a.json()["results"] for a in answers]
    for i in range(len(items)):
        statuses = sorted(r[i]["status"] for r in results)
        assert statuses == ["created"] + ["existing"] * (n - 1), statuses
        assert len({r[i]["id"] for r in results}) == 1
        assert all(r[i]["client_id"] == client_ids[i] for r in results)
    assert rows_of(engine, racer.id, client_ids) == len(items)


def test_concurrent_post_and_batch_of_one_client_id(
    engine: Engine,
    settings: Settings,
    racer: User,
    clients: Callable[[], TestClient],
) -> None:
    body = payload()
    headers = auth_headers(racer, settings)

    def call(c: TestClient) -> Any:
        if threading.current_thread().name.endswith("0)"):
            return c.post("/observations", json=body, headers=headers)
        return c.post("/observations/batch", json={"observations": [body]}, headers=headers)

    answers = race(4, clients, call)
    assert all(a.status_code in (200, 201) for a in answers), [a.text for a in answers]
    ids = set()
    for a in answers:
        data = a.json()
        ids.add(data["results"][0]["id"] if "results" in data else data["id"])
    assert len(ids) == 1
    assert rows_of(engine, racer.id, [body["client_id"]]) == 1


def test_concurrent_batches_in_opposite_orders_do_not_deadlock(
    engine: Engine,
    settings: Settings,
    racer: User,
    clients: Callable[[], TestClient],
) -> None:
    items = [payload(count=i) for i in range(40)]
    client_ids = [item["client_id"] for item in items]
    headers = auth_headers(racer, settings)
    orders = [items, list(reversed(items))] * 2
    calls = iter(orders)
    lock = threading.Lock()

    def call(c: TestClient) -> Any:
        with lock:
            batch = next(calls)
        return c.post("/observations/batch", json={"observations": batch}, headers=headers)

    answers = race(len(orders), clients, call)
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    created = [
        r["client_id"] for a in answers for r in a.json()["results"] if r["status"] == "created"
    ]
    assert sorted(created) == sorted(client_ids)
    assert rows_of(engine, racer.id, client_ids) == len(items)
