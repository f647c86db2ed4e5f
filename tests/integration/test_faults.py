"""Fault drills on the real stack with the shipped settings: workers and Redis killed mid-job.

Nothing here is shortened for the test: the heartbeat, the reaper, the checkpoint floor and the
broker's visibility timeout are the defaults a user gets (the stack only writes progress more
often, so the test sees each step sooner).
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

from services.stack.processes import Service, free_port
from services.stack.redis import start_redis
from tests.integration.conftest import Stack, make_stack
from workers.store import Job

CHECKPOINT_EVERY = 50


def long_job(max_steps: int, seed: int) -> dict[str, Any]:
    return {
        "model": "mnist-cgan",
        "training": {
            "epochs": 1000,  # max_steps is what ends it
            "max_steps": max_steps,
            "batch_size": 64,
            "checkpoint_every": CHECKPOINT_EVERY,
            "seed": seed,
            "preflight": False,
        },
    }


def progress(job: Job) -> dict[str, Any]:
    return job.progress or {}


def resumed(stack: Stack, job_id: str, attempt: int) -> int:
    """Wait for attempt ``attempt`` to report; returns the step it resumed from."""
    job = stack.wait(
        job_id, lambda j: progress(j).get("attempt") == attempt and j.state == "running"
    )
    return int(progress(job)["checkpoint_step"])


def assert_every_step_once(job: Job, steps: int) -> None:
    history = json.loads(Path(job.artifacts["history"]).read_text())  # type: ignore[index]
    assert history["g_calls"] == steps and len(history["g_loss"]) == steps
    assert len(history["d_loss"]) == history["d_calls"] // history["record_every"]


def test_three_worker_kills_each_cost_at_most_the_steps_since_a_checkpoint(
    stack: Stack, start_worker
) -> None:  # type: ignore[no-untyped-def]
    steps = 9000
    worker: Service = start_worker()
    job_id = stack.submit(long_job(steps, seed=5))
    resume_point = resumed(stack, job_id, 1)
    assert resume_point == 0
    for attempt in (1, 2, 3):
        # a new checkpoint since this attempt began, so each death is progress, not a strike
        job = stack.wait(
            job_id, lambda j, start=resume_point: progress(j)["checkpoint_step"] > start
        )
        before_kill = progress(job)
        worker.process.send_signal(signal.SIGKILL)
        worker.process.wait()
        killed = time.monotonic()
        worker = start_worker()
        resume_point = resumed(stack, job_id, attempt + 1)
        assert time.monotonic() - killed < 40  # heartbeat 10 s + reaper + a new worker's start
        assert resume_point >= before_kill["checkpoint_step"]  # from the newest checkpoint
        assert resume_point <= before_kill["step"] + 5 * CHECKPOINT_EVERY
    job = stack.wait(job_id, lambda j: j.finished, timeout_s=300)
    assert job.state == "succeeded", job.error
    assert job.attempts == 4 and job.losses is not None and job.losses["count"] == 3
    assert job.losses["strikes"] == 1  # each death came after a new checkpoint
    assert_every_step_once(job, steps)


def test_sigterm_hands_the_job_back_and_no_step_is_lost(stack: Stack, start_worker) -> None:  # type: ignore[no-untyped-def]
    steps = 4000
    worker: Service = start_worker()
    job_id = stack.submit(long_job(steps, seed=6))
    job = stack.wait(job_id, lambda j: progress(j).get("step", 0) >= 200)
    reached = progress(job)["step"]
    asked = time.monotonic()
    worker.process.send_signal(signal.SIGTERM)
    worker.process.wait(timeout=30)
    assert time.monotonic() - asked < 15  # well within the compose stop_grace_period (30 s)
    handed = stack.store.get(job_id)
    assert handed.state == "queued" and handed.losses is None  # handed back, not lost
    start_worker()
    resume_point = resumed(stack, job_id, 2)
    assert resume_point >= reached  # the stop wrote a checkpoint at the step it reached
    job = stack.wait(job_id, lambda j: j.finished, timeout_s=300)
    assert job.state == "succeeded", job.error
    assert_every_step_once(job, steps)


def test_redis_killed_and_restarted_loses_no_job_and_runs_none_twice(
    tmp_path: Path, start_worker, torchserve
) -> None:  # type: ignore[no-untyped-def]
    port_folder, port = tmp_path / "redis", free_port()
    redis = start_redis(port_folder, port, append_only=True)
    try:
        stack = make_stack(tmp_path / "stack", redis.url, torchserve.config, torchserve.key_file)
        start_worker(stack)
        first = stack.submit(long_job(1500, seed=7))
        second = stack.submit(long_job(300, seed=8))
        stack.wait(first, lambda j: progress(j).get("step", 0) >= 100)
        time.sleep(1.5)  # the append-only file is written every second
        redis.process.send_signal(signal.SIGKILL)
        redis.process.wait()
        time.sleep(2)
        redis = start_redis(port_folder, port, append_only=True)
        for job_id, steps in ((first, 1500), (second, 300)):
            job = stack.wait(job_id, lambda j: j.finished, timeout_s=300)
            assert job.state == "succeeded", job.error
            assert job.attempts == 1  # the running job kept its lock: no second worker took it
            assert_every_step_once(job, steps)
    finally:
        redis.stop()
