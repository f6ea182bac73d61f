from fastapi.testclient import TestClient


def test_healthz_answers(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


def test_readyz_reports_migrations_at_head(client: TestClient) -> None:
    r = client.get("/readyz")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["database"] == "ok"
    assert body["revision"]


def test_unknown_path_is_problem_json(client: TestClient) -> None:
    r = client.get("/no-such-thing")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "not_found"
