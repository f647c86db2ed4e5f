"""Training jobs end to end: real Redis, real Celery worker processes, a real TorchServe."""

from __future__ import annotations

import base64
import io
import json
import time
from pathlib import Path

from PIL import Image

from services.stack.redis import RedisProcess
from services.stack.torchserve import config_on_free_ports, key_file_in, start_torchserve
from tests.integration.conftest import Stack, make_stack
from workers.celery_app import make_app, send_training_job
from workers.spec import JobSpec

SHORT = {
    "model": "mnist-cgan",
    "training": {"max_steps": 300, "seed": 1},
    "serve_as": "digits-e2e",
}


def test_a_job_trains_reports_progress_and_is_served(
    stack: Stack, start_worker, torchserve
) -> None:  # type: ignore[no-untyped-def]
    start_worker()
    job_id = stack.submit(SHORT)
    running = stack.wait(job_id, lambda j: j.progress is not None and j.progress.get("step", 0) > 0)
    assert running.state in ("running", "succeeded")
    job = stack.wait(job_id, lambda j: j.finished)
    assert job.state == "succeeded", job.error
    assert job.served["name"] == "digits-e2e" and job.served["version"] == "1"
    assert Path(job.artifacts["generator"]).is_file() and Path(job.served["archive"]).is_file()
    assert job.metrics["training"]["steps"] == 300 and job.progress["step"] == 300
    model = stack.store.get_model("digits-e2e")
    assert model is not None and model["versions"]["1"] == job_id and model["num_classes"] == 10
    answer = torchserve.client.infer("digits-e2e", {"n": 4, "label": 3, "seed": 0}).json()
    assert answer["label"] == 3 and len(answer["images"]) == 4


def test_a_face_job_is_served_and_draws_faces_by_seed(
    stack: Stack, start_worker, torchserve
) -> None:  # type: ignore[no-untyped-def]
    start_worker()
    spec = {
        "model": "celeba-dcgan",
        "dataset": {"source": "builtin:faces-sample"},
        "training": {"max_steps": 2, "batch_size": 4, "seed": 1},
        "serve_as": "faces-e2e",
    }
    job = stack.wait(stack.submit(spec), lambda j: j.finished)
    assert job.state == "succeeded", job.error
    answer = torchserve.client.infer("faces-e2e", {"n": 2, "seed": 5})
    faces = [Image.open(io.BytesIO(base64.b64decode(p))) for p in answer.json()["images"]]
    assert [(face.size, face.mode) for face in faces] == [((128, 128), "RGB")] * 2
    assert answer.json() == torchserve.client.infer("faces-e2e", {"n": 2, "seed": 5}).json()
    morph = {"experiment": {"kind": "interpolate", "seeds": [5, 9], "steps": 4}}
    frames = torchserve.client.infer("faces-e2e", morph).json()["images"]
    assert len(frames) == 4 and frames[0] == answer.json()["images"][0]  # starts at seed 5's face
    sums = {"experiment": {"kind": "arithmetic", "seeds": [5, 9]}}
    assert len(torchserve.client.infer("faces-e2e", sums).json()["images"]) == 4
    refused = torchserve.client.infer("faces-e2e", {"n": 1, "label": 3}, check=False)
    assert refused.status == 400 and "unconditional" in refused.json()["detail"]


def test_a_second_job_of_the_same_name_becomes_the_default_version(
    stack: Stack, start_worker, torchserve
) -> None:  # type: ignore[no-untyped-def]
    start_worker()
    first = stack.wait(stack.submit(SHORT), lambda j: j.finished)
    second = stack.wait(stack.submit(SHORT | {"training": {"max_steps": 50}}), lambda j: j.finished)
    assert second.state == "succeeded", second.error
    assert int(second.served["version"]) == int(first.served["version"]) + 1
    default = torchserve.client.describe("digits-e2e", version=None)[0]["modelVersion"]
    assert default == second.served["version"]
    versions = {d["modelVersion"] for d in torchserve.client.describe("digits-e2e")}
    assert first.served["version"] in versions  # the older version stays callable


def test_cancel_a_running_job_and_the_worker_takes_the_next(stack: Stack, start_worker) -> None:  # type: ignore[no-untyped-def]
    start_worker()
    long_job = stack.submit({"model": "mnist-cgan", "training": {"epochs": 500, "batch_size": 32}})
    stack.wait(long_job, lambda j: j.state == "running" and j.progress is not None)
    asked = time.monotonic()
    stack.store.cancel(long_job)
    cancelled = stack.wait(long_job, lambda j: j.finished, timeout_s=10)
    assert cancelled.state == "cancelled" and time.monotonic() - asked < 5
    next_job = stack.wait(stack.submit(SHORT | {"serve_as": None}), lambda j: j.finished)
    assert next_job.state == "succeeded", next_job.error


def test_a_finished_job_delivered_again_does_nothing(stack: Stack, start_worker) -> None:  # type: ignore[no-untyped-def]
    start_worker()
    job_id = stack.submit(SHORT | {"serve_as": None, "training": {"max_steps": 20}})
    done = stack.wait(job_id, lambda j: j.finished)
    send_training_job(make_app(stack.settings.redis_url, stack.settings.longest_job_s), job_id)
    time.sleep(2)
    again = stack.store.get(job_id)
    assert again.state == done.state and again.updated_at == done.updated_at and again.attempts == 1


def test_refused_specs_fail_with_a_reason(stack: Stack, start_worker) -> None:  # type: ignore[no-untyped-def]
    start_worker()
    outside = stack.submit({"model": "mnist-gan", "dataset": {"source": "csv:/etc/passwd"}})
    job = stack.wait(outside, lambda j: j.finished)
    assert job.state == "failed" and job.error["code"] == "bad_dataset"
    assert "outside the data root" in job.error["message"]
    escape = stack.submit({"model": "mnist-gan", "dataset": {"source": "csv:../../etc/passwd"}})
    assert stack.wait(escape, lambda j: j.finished).error["code"] == "bad_dataset"
    faces = stack.submit({"model": "celeba-dcgan", "dataset": {"source": "hdf5:/etc/hostname"}})
    job = stack.wait(faces, lambda j: j.finished)
    assert job.error["code"] == "bad_dataset" and "outside the data root" in job.error["message"]
    missing = stack.submit({"model": "mnist-gan", "dataset": {"source": "csv:none.csv"}})
    job = stack.wait(missing, lambda j: j.finished)
    assert job.state == "failed" and job.error["code"] == "bad_dataset"
    assert "file not found" in job.error["message"] and "Traceback" not in job.error["message"]
    tampered = stack.store.create(JobSpec(model="mnist-gan"))
    stack.store.redis.hset(
        f"gf:job:{tampered.id}", "spec", json.dumps({"model": "mnist-gan", "training": {"lr": 7}})
    )
    send_training_job(make_app(stack.settings.redis_url, stack.settings.longest_job_s), tampered.id)
    job = stack.wait(tampered.id, lambda j: j.finished)
    assert (
        job.state == "failed"
        and job.error["code"] == "invalid_spec"
        and "training.lr" in job.error["message"]
    )


def test_torchserve_down_at_the_end_the_job_waits_then_registers(
    tmp_path: Path, jobs_redis: RedisProcess, start_worker
) -> None:  # type: ignore[no-untyped-def]
    config = config_on_free_ports(tmp_path / "store")
    stack = make_stack(
        tmp_path / "stack",
        jobs_redis.url.rsplit("/", 1)[0] + "/1",  # a queue of its own: no other test's messages
        config,
        key_file_in(tmp_path / "server"),  # where the TorchServe started below writes its keys
    )
    start_worker(stack)
    job_id = stack.submit(SHORT | {"serve_as": "late-digits", "training": {"max_steps": 50}})
    stack.wait(job_id, lambda j: (j.progress or {}).get("phase") == "waiting for TorchServe")
    server = start_torchserve(tmp_path / "server", config)
    try:
        job = stack.wait(job_id, lambda j: j.finished)
        assert job.state == "succeeded", job.error
        assert job.metrics["training"]["resumed_from"] == 0  # not trained again
        answer = server.client.infer("late-digits", {"n": 1, "label": 0}).json()
        assert len(answer["images"]) == 1
    finally:
        server.stop()
