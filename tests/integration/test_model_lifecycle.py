"""A model's life over REST on the real stack: a job that registers nothing, served later by name,
a second version that becomes the default once ready, deleting a version and the whole model.

Real Redis, a real Celery worker (its reconciler does the TorchServe side), a real TorchServe; the
gateway in-process over the real TorchServe client.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from model_archive.client import TorchServeClient
from services.app import create_app
from services.stack.torchserve import TorchServeProcess
from tests.integration.conftest import Stack
from tests.services.conftest import AUTH, settings_for

SHORT = {"model": "mnist-cgan", "training": {"max_steps": 60, "seed": 2}}
BODY = {"n": 2, "label": 7, "seed": 5, "format": "grid"}


def _until(check: Callable[[], Any], what: str, timeout_s: float = 90) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.25)
    raise AssertionError(f"not within {timeout_s} s: {what}")


def _gateway(stack: Stack, torchserve: TorchServeProcess) -> FlaskClient:
    settings = settings_for(stack.settings.redis_url, stack.settings.artifact_root)
    client = TorchServeClient(torchserve.config.inference_url, key_file=torchserve.key_file)
    app = create_app(settings, store=stack.store, torchserve=client, send_job=lambda _: None)
    return app.test_client()


def _versions(torchserve: TorchServeProcess, name: str) -> set[str]:
    listed = {m["modelName"] for m in torchserve.client.list_models()}
    if name not in listed:
        return set()
    return {str(d["modelVersion"]) for d in torchserve.client.describe(name)}


def _state(gateway: FlaskClient, name: str, version: str) -> str | None:
    model = gateway.get(f"/v1/models/{name}", headers=AUTH).json
    return (model.get("serving", {}).get(version) or {}).get("state")


def test_a_job_served_later_by_name_then_deleted_version_by_version(
    stack: Stack, start_worker, torchserve: TorchServeProcess
) -> None:  # type: ignore[no-untyped-def]
    start_worker()
    gateway = _gateway(stack, torchserve)
    job = stack.wait(stack.submit(SHORT), lambda j: j.finished)
    assert job.state == "succeeded" and job.served is None, job.error
    assert not any(m["modelName"].startswith("job-") for m in torchserve.client.list_models())
    download = gateway.get(f"/v1/jobs/{job.id}/model.mar", headers=AUTH)
    assert download.status_code == 200 and download.data[:2] == b"PK"  # a .mar is a zip
    assert gateway.get(f"/v1/jobs/{job.id}", headers=AUTH).json["artifacts"]["archive"]

    asked = gateway.post("/v1/models", json={"job_id": job.id, "name": "later"}, headers=AUTH)
    assert asked.status_code == 202, asked.json
    assert asked.headers["Location"] == "/v1/models/later"
    assert asked.json["serving"]["1"]["state"] == "loading"
    _until(lambda: _state(gateway, "later", "1") == "ready", "version 1 ready")
    first = gateway.post("/v1/models/later/generate", json=BODY, headers=AUTH)
    assert first.status_code == 200 and first.mimetype == "image/png"

    again = gateway.post("/v1/models", json={"job_id": job.id, "name": "later"}, headers=AUTH)
    assert again.status_code == 202 and again.json["pending_default"] == "2"
    assert again.json["default_version"] == "1"  # until version 2 is ready
    _until(
        lambda: gateway.get("/v1/models/later", headers=AUTH).json["default_version"] == "2",
        "version 2 the default once ready",
    )
    default = lambda: torchserve.client.describe("later", version=None)[0]["modelVersion"]  # noqa: E731
    _until(lambda: default() == "2", "TorchServe's default follows")

    refused = gateway.delete("/v1/models/later/versions/2", headers=AUTH)
    assert refused.status_code == 409 and "default" in refused.json["detail"]
    store_dir = torchserve.config.model_store
    assert (store_dir / "later.v1.mar").is_file()
    gone = gateway.delete("/v1/models/later/versions/1", headers=AUTH)
    assert gone.status_code == 200 and list(gone.json["versions"]) == ["2"]
    _until(lambda: _versions(torchserve, "later") == {"2"}, "version 1 unregistered")
    _until(lambda: not (store_dir / "later.v1.mar").exists(), "version 1's archive removed")
    last = gateway.delete("/v1/models/later/versions/2", headers=AUTH)
    assert last.status_code == 409 and "DELETE /v1/models/later" in last.json["detail"]

    assert gateway.delete("/v1/models/later", headers=AUTH).status_code == 204
    assert gateway.get("/v1/models/later", headers=AUTH).status_code == 404
    _until(lambda: not _versions(torchserve, "later"), "the model unregistered")
    _until(lambda: not (store_dir / "later.v2.mar").exists(), "its archives removed")
    assert Path(job.artifacts["archive"]).is_file()  # the job keeps its own  # type: ignore[index]
    assert stack.store.retired() == []
