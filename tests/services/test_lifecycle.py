"""Serving, rolling and deleting models over REST: what the record becomes, and every refusal.

The TorchServe side (the reconciler) runs in tests/integration/test_model_lifecycle.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from services.app import create_app
from tests.services.conftest import AUTH, META, Gateway, settings_for
from tests.services.test_gateway import error_of
from workers.spec import JobSpec


def _succeeded(gateway: Gateway, serve_as: str | None = None) -> str:
    """A job as a worker leaves it: succeeded, a generator, and what it draws."""
    job = gateway.store.create(JobSpec(model="mnist-cgan", serve_as=serve_as))
    gateway.store.transition(job.id, "running")
    generator = gateway.artifact_root / "jobs" / job.id / "generator.pt"
    generator.parent.mkdir(parents=True)
    generator.write_bytes(b"weights")
    gateway.store.transition(
        job.id, "succeeded", artifacts={"generator": str(generator)}, model=META
    )
    return job.id


def test_a_succeeded_job_is_served_under_a_name(gateway: Gateway, digits: str) -> None:
    job_id = _succeeded(gateway)
    new = gateway.client.post("/v1/models", json={"job_id": job_id, "name": "fresh"}, headers=AUTH)
    assert new.status_code == 202 and new.headers["Location"] == "/v1/models/fresh"
    assert new.json["default_version"] == "1" and new.json["versions"] == {"1": job_id}
    assert new.json["serving"]["1"]["state"] == "loading"
    more = gateway.client.post(
        "/v1/models", json={"job_id": job_id, "name": "digits"}, headers=AUTH
    )
    assert more.status_code == 202 and list(more.json["versions"]) == ["1", "2", "3"]
    assert (more.json["default_version"], more.json["pending_default"]) == ("2", "3")
    body = {"job_id": job_id, "name": "digits", "default": False}
    kept = gateway.client.post("/v1/models", json=body, headers=AUTH).json
    assert kept["pending_default"] == "3" and "4" in kept["versions"]
    download = gateway.client.get(f"/v1/jobs/{job_id}/generator.pt", headers=AUTH)
    assert download.status_code == 200 and download.data == b"weights"
    assert "attachment" in download.headers["Content-Disposition"]


def test_retention_retires_the_oldest_versions(redis_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = redis_server.url.rsplit("/", 1)[0] + "/5"
    app = create_app(settings_for(url, tmp_path, keep_versions=2), send_job=lambda _: None)
    store = app.extensions["ganfoundry"].store
    store.redis.flushdb()
    gateway = Gateway(app, app.test_client(), store, None, [], tmp_path)  # type: ignore[arg-type]
    job_id = _succeeded(gateway)
    for _ in range(4):
        body = {"job_id": job_id, "name": "kept"}
        answer = gateway.client.post("/v1/models", json=body, headers=AUTH)
    assert list(answer.json["versions"]) == ["1", "3", "4"]  # 1 is the default until 4 is ready
    assert sorted(r.version for r in store.retired()) == ["2"]


@pytest.mark.parametrize(
    ("body", "status", "said"),
    [
        ({"job_id": "0" * 32, "name": "x"}, 404, "no job"),
        ({"job_id": "queued", "name": "x"}, 409, "only a succeeded job"),
        ({"job_id": "old", "name": "x"}, 409, "train it again"),
        ({"job_id": "ok", "name": "Bad Name"}, 422, "name"),
        ({"job_id": "../etc", "name": "x"}, 422, "job_id"),
        ({"job_id": "ok"}, 422, "name"),
        ({"job_id": "ok", "name": "x", "extra": 1}, 422, "extra"),
        ({"job_id": "ok", "name": "x", "default": "yes please"}, 422, "default"),
    ],
)
def test_what_cannot_be_served_is_refused_and_nothing_is_recorded(
    gateway: Gateway, digits: str, body: dict, status: int, said: str
) -> None:
    ids = {
        "ok": _succeeded(gateway),
        "queued": gateway.store.create(JobSpec(model="mnist-cgan")).id,
        "old": gateway.store.create(JobSpec(model="mnist-cgan")).id,
    }
    gateway.store.transition(ids["old"], "running")
    gateway.store.transition(ids["old"], "succeeded", artifacts={"generator": "/x"})  # no model
    body = {k: ids.get(v, v) if k == "job_id" else v for k, v in body.items()}
    answer = gateway.client.post("/v1/models", json=body, headers=AUTH)
    assert answer.status_code == status and said in str(error_of(answer)), answer.json
    assert [m["name"] for m in gateway.store.list_models()] == ["digits"]
    assert gateway.client.post("/v1/models", json=body).status_code == 401


def test_the_cap_on_served_names_is_a_409_at_submit_and_when_served(
    redis_server,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    url = redis_server.url.rsplit("/", 1)[0] + "/5"
    sent: list[str] = []
    app = create_app(settings_for(url, tmp_path, max_served_models=1), send_job=sent.append)
    store = app.extensions["ganfoundry"].store
    store.redis.flushdb()
    gateway = Gateway(app, app.test_client(), store, None, sent, tmp_path)  # type: ignore[arg-type]
    store.record_model("digits", "1", "a" * 32, META)
    spec = {"model": "mnist-cgan", "serve_as": "another"}
    full = gateway.client.post("/v1/jobs", json=spec, headers=AUTH)
    assert full.status_code == 409 and error_of(full)["code"] == "too_many_models"
    assert "DELETE /v1/models/<name>" in error_of(full)["detail"] and sent == []
    same = gateway.client.post("/v1/jobs", json=spec | {"serve_as": "digits"}, headers=AUTH)
    assert same.status_code == 202  # a new version of a served name takes no room
    job_id = _succeeded(gateway)
    body = {"job_id": job_id, "name": "another"}
    refused = gateway.client.post("/v1/models", json=body, headers=AUTH)
    assert refused.status_code == 409 and error_of(refused)["code"] == "too_many_models"
    assert store.get_model("another") is None


def test_deleting_a_version_retires_it_and_refuses_the_default_and_the_last(
    gateway: Gateway, digits: str
) -> None:
    default = gateway.client.delete("/v1/models/digits/versions/2", headers=AUTH)
    assert (
        default.status_code == 409
        and "PUT /v1/models/digits/default" in error_of(default)["detail"]
    )
    for path in ("/v1/models/digits/versions/7", "/v1/models/nothing/versions/1"):
        assert gateway.client.delete(path, headers=AUTH).status_code == 404
    assert gateway.client.delete("/v1/models/digits/versions/1").status_code == 401
    gone = gateway.client.delete("/v1/models/digits/versions/1", headers=AUTH)
    assert gone.status_code == 200 and list(gone.json["versions"]) == ["2"]
    assert [(r.name, r.version) for r in gateway.store.retired()] == [("digits", "1")]
    last = gateway.client.delete("/v1/models/digits/versions/2", headers=AUTH)
    assert last.status_code == 409 and "DELETE /v1/models/digits" in error_of(last)["detail"]
    assert list(gateway.store.get_model("digits")["versions"]) == ["2"]  # type: ignore[index]


def test_deleting_a_model_waits_for_the_jobs_that_will_serve_as_it(
    gateway: Gateway, digits: str
) -> None:
    job = gateway.store.create(JobSpec(model="mnist-cgan", serve_as="digits"))
    busy = gateway.client.delete("/v1/models/digits", headers=AUTH)
    assert busy.status_code == 409 and f"DELETE /v1/jobs/{job.id}" in error_of(busy)["detail"]
    assert gateway.store.get_model("digits") is not None
    gateway.store.cancel(job.id)
    assert gateway.client.delete("/v1/models/nothing", headers=AUTH).status_code == 404
    assert gateway.client.delete("/v1/models/digits", headers=AUTH).status_code == 204
    assert gateway.client.get("/v1/models/digits", headers=AUTH).status_code == 404
    assert sorted(r.version for r in gateway.store.retired()) == ["1", "2"]
    generate = gateway.client.post("/v1/models/digits/generate", json={"n": 1}, headers=AUTH)
    assert generate.status_code == 404


def test_roll_the_default_back_and_forward(gateway: Gateway, digits: str) -> None:
    back = gateway.client.put("/v1/models/digits/default", json={"version": "1"}, headers=AUTH)
    assert back.status_code == 200 and back.json["default_version"] == "1"
    assert gateway.client.get("/v1/models/digits", headers=AUTH).json["default_version"] == "1"
    forward = gateway.client.put("/v1/models/digits/default", json={"version": "2"}, headers=AUTH)
    assert forward.json["default_version"] == "2"


@pytest.mark.parametrize(
    ("name", "body", "status"),
    [
        ("digits", {"version": "7"}, 404),
        ("nothing", {"version": "1"}, 404),
        ("digits", {"version": "../1"}, 422),
        ("digits", {"version": 1}, 422),
        ("digits", {}, 422),
        ("digits", {"version": "1", "extra": True}, 422),
    ],
)
def test_a_default_that_cannot_be_is_refused_and_nothing_changes(
    gateway: Gateway, digits: str, name: str, body: dict, status: int
) -> None:
    answer = gateway.client.put(f"/v1/models/{name}/default", json=body, headers=AUTH)
    assert answer.status_code == status and error_of(answer)["detail"]
    assert gateway.store.get_model("digits")["default_version"] == "2"  # type: ignore[index]


def test_an_unavailable_version_cannot_become_the_default(gateway: Gateway, digits: str) -> None:
    gateway.store.set_serving("digits", "1", "unavailable", "its archive is missing")
    answer = gateway.client.put("/v1/models/digits/default", json={"version": "1"}, headers=AUTH)
    assert answer.status_code == 409 and "archive is missing" in error_of(answer)["detail"]
    assert gateway.client.put("/v1/models/digits/default", json={"version": "1"}).status_code == 401
