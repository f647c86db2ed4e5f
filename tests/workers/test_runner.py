from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch

from model_archive.client import TorchServeError, TorchServeUnavailable
from tests.workers.conftest import settings_for
from workers.engine.datasets import DataError
from workers.engine.plan import PlanError
from workers.engine.preflight import PreflightError
from workers.failures import JobFailure
from workers.publish import _retry
from workers.runner import classify, inside_data_root, run_training_job
from workers.settings import WorkerSettings
from workers.spec import JobSpec
from workers.store import JobStore


def test_relative_dataset_paths_start_at_the_data_root(tmp_path: Path) -> None:
    assert (
        inside_data_root("csv:mnist/train.csv", tmp_path)
        == f"csv:{tmp_path.resolve()}/mnist/train.csv"
    )
    assert inside_data_root(f"idx:{tmp_path}/raw", tmp_path) == f"idx:{tmp_path.resolve()}/raw"
    assert inside_data_root("hdf5:celeba.h5", tmp_path) == f"hdf5:{tmp_path.resolve()}/celeba.h5"
    assert inside_data_root("builtin:mnist-sample", tmp_path) == "builtin:mnist-sample"
    assert inside_data_root("builtin:faces-sample", tmp_path) == "builtin:faces-sample"


@pytest.mark.parametrize(
    "source",
    [
        "csv:/etc/passwd",
        "csv:../x.csv",
        "idx:a/../../b",
        "csv:/",
        "hdf5:/etc/shadow",
        "hdf5:../x.h5",
    ],
)
def test_paths_outside_the_data_root_are_refused(tmp_path: Path, source: str) -> None:
    with pytest.raises(JobFailure) as caught:
        inside_data_root(source, tmp_path / "data")
    assert caught.value.code == "bad_dataset"


def test_a_symlink_out_of_the_data_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.mkdir()
    (root / "link").symlink_to("/etc")
    with pytest.raises(JobFailure):
        inside_data_root("csv:link/passwd", root)


def test_errors_map_to_codes_a_user_can_act_on() -> None:
    assert classify(DataError("x.csv, line 3: 786 columns"))[0] == "bad_dataset"
    assert classify(PreflightError("pre-flight: ..."))[0] == "preflight_failed"
    code, message = classify(torch.cuda.OutOfMemoryError("CUDA out of memory. Tried 2 GiB"))
    assert code == "out_of_memory" and "batch_size" in message
    assert classify(MemoryError())[0] == "out_of_memory"
    assert classify(PlanError("would train 9,000,000 steps"))[0] == "limit_exceeded"
    assert classify(KeyError("boom"))[0] == "internal_error"


def _settings(tmp_path: Path, attempts: int) -> WorkerSettings:
    # a unit test of the retry loop, not a fault drill: a short backoff
    return settings_for(tmp_path, register_attempts=attempts, register_backoff_s=0.01)


def test_registration_retries_while_torchserve_is_down_and_says_so(
    tmp_path: Path, store: JobStore
) -> None:
    job = store.create(JobSpec(model="mnist-gan"))
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise TorchServeUnavailable("connection refused")
        return "registered"

    assert _retry(flaky, _settings(tmp_path, 5), store, job.id, threading.Event()) == "registered"
    assert len(calls) == 3
    progress = store.get(job.id).progress
    assert progress == {
        "phase": "waiting for TorchServe",
        "attempt": 2,
        "reason": "connection refused",
    }


def test_registration_gives_up_after_the_attempts_and_a_refusal_is_not_retried(
    tmp_path: Path, store: JobStore
) -> None:
    job = store.create(JobSpec(model="mnist-gan"))
    calls: list[int] = []

    def down() -> None:
        calls.append(1)
        raise TorchServeUnavailable("connection refused")

    with pytest.raises(JobFailure, match="after 4 attempts") as failure:
        _retry(down, _settings(tmp_path, 4), store, job.id, threading.Event())
    assert failure.value.code == "torchserve_unavailable" and len(calls) == 4

    def refused() -> None:
        calls.append(1)
        raise TorchServeError(400, "bad archive")

    with pytest.raises(JobFailure, match="refused the model: bad archive") as failure:
        _retry(refused, _settings(tmp_path, 4), store, job.id, threading.Event())
    assert failure.value.code == "registration_failed" and len(calls) == 5


def _job_ready_to_run(store: JobStore, run_s: float) -> str:
    spec = JobSpec(
        model="mnist-gan",
        training={"max_steps": 50, "time_limit_s": 60, "preflight": False},
    )
    job = store.create(spec)
    store.transition(job.id, "running", attempts=1)
    store.update(job.id, progress={"run_s": run_s})  # what earlier attempts ran
    store.transition(job.id, "queued")
    return job.id


def test_a_job_past_its_time_limit_fails_and_keeps_its_checkpoint(
    tmp_path: Path, store: JobStore
) -> None:
    job_id = _job_ready_to_run(store, run_s=60.5)
    sent: list[str] = []
    settings = _settings(tmp_path, attempts=1)
    assert run_training_job(job_id, store, settings, "me", sent.append) == "failed"
    job = store.get(job_id)
    assert job.error is not None and job.error["code"] == "time_limit"
    assert "60 s" in job.error["message"] and sent == []
    assert list((settings.job_dir(job_id) / "checkpoints").glob("step-*.pt"))


def test_a_stopping_worker_hands_the_job_back_at_its_step(tmp_path: Path, store: JobStore) -> None:
    job_id = _job_ready_to_run(store, run_s=0.0)
    sent: list[str] = []
    stopping = threading.Event()
    stopping.set()  # SIGTERM came before the first step
    settings = _settings(tmp_path, attempts=1)
    outcome = run_training_job(job_id, store, settings, "me", sent.append, stopping)
    assert outcome == "requeued" and sent == [job_id]
    job = store.get(job_id)
    assert job.state == "queued" and job.attempts == 2 and job.error is None
    assert (settings.job_dir(job_id) / "checkpoints" / "step-0000000000.pt").is_file()
    assert store.acquire_lock(job_id, "next-worker", 5)  # the lock was let go


def test_a_job_past_the_cap_on_served_names_fails_before_it_calls_torchserve(
    tmp_path: Path, store: JobStore
) -> None:
    from workers.engine.pipeline import JobOutcome
    from workers.publish import model_meta, serve

    store.redis.flushdb()
    settings = settings_for(tmp_path, max_served_models=1)  # TorchServe at an address never up
    spec = JobSpec(model="mnist-cgan", serve_as="second-name")
    store.record_model("first-name", "1", "a" * 32, model_meta(spec))
    job = store.create(spec)
    outcome = JobOutcome("completed", tmp_path, artifacts={"generator": str(tmp_path / "g.pt")})
    with pytest.raises(JobFailure) as caught:
        serve(job.id, spec, outcome, settings, store, threading.Event())
    assert caught.value.code == "too_many_models" and job.id in str(caught.value)


def test_a_job_whose_name_another_key_took_meanwhile_fails_before_it_calls_torchserve(
    tmp_path: Path, store: JobStore
) -> None:
    from workers.engine.pipeline import JobOutcome
    from workers.publish import model_meta, serve

    settings = settings_for(tmp_path)  # TorchServe at an address never up: not called
    spec = JobSpec(model="mnist-cgan", serve_as="raced-name")
    job = store.create(spec, owner="key-a")  # the name was free when the gateway accepted it
    store.record_model("raced-name", "1", "b" * 32, model_meta(spec), owner="key-b")
    outcome = JobOutcome("completed", tmp_path, artifacts={"generator": str(tmp_path / "g.pt")})
    with pytest.raises(JobFailure) as caught:
        serve(job.id, spec, outcome, settings, store, threading.Event())
    assert caught.value.code == "name_taken" and job.id in str(caught.value)
    assert store.get_model("raced-name")["owner"] == "key-b"  # type: ignore[index]
