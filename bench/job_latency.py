"""Job latency through the real stack: Redis, one Celery worker, TorchServe.

For each of --jobs short mnist-cgan jobs: the time from enqueue to the worker's first training
step, and from the last training step to the model answering in TorchServe. One warm-up job
first (it trains the evaluator into a fresh cache). Last line: JSON with the medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from model_archive.client import TorchServeClient
from services.stack.local import LocalStack
from workers.celery_app import make_app, send_training_job
from workers.settings import WorkerSettings
from workers.spec import JobSpec
from workers.store import Job, JobStore


def wait_for(store: JobStore, job_id: str, timeout_s: float = 300) -> Job:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = store.get(job_id)
        if job.finished:
            return job
        time.sleep(0.01)
    raise TimeoutError(f"job {job_id} did not finish")


def answered_at(client: TorchServeClient, name: str) -> float:
    while True:
        response = client.infer(name, {"n": 1, "label": 0}, check=False)
        if response.status == 200:
            return time.time()
        time.sleep(0.01)


def run_one(
    store: JobStore, settings: WorkerSettings, client: TorchServeClient, name: str, steps: int
) -> tuple[float, float]:
    job = store.create(
        JobSpec.model_validate(
            {"model": "mnist-cgan", "training": {"max_steps": steps}, "serve_as": name}
        )
    )
    enqueued = time.time()
    send_training_job(make_app(settings.redis_url, settings.longest_job_s), job.id)
    done = wait_for(store, job.id)
    if done.state != "succeeded":
        raise RuntimeError(f"job failed: {done.error}")
    served = answered_at(client, name)
    progress = done.progress or {}
    store.forget_model(name)  # keep one model worker alive at a time: out of the record first,
    client.unregister(name)  # so that the workers' reconciler does not serve it again
    return progress["first_step_at"] - enqueued, served - progress["last_step_at"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=10)
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, LocalStack(Path(tmp)) as stack:
        stack.start_redis()
        client = stack.start_torchserve().client
        settings = stack.worker_settings()
        stack.start_worker(settings, extra_env={"GANFOUNDRY_CACHE": str(Path(tmp) / "cache")})
        store = JobStore.from_url(settings.redis_url)
        run_one(store, settings, client, "warm-up", args.steps)
        starts, ends = [], []
        for index in range(args.jobs):
            start, end = run_one(store, settings, client, f"bench-{index}", args.steps)
            starts.append(start)
            ends.append(end)
            print(f"job {index}: enqueue→first step {start:.3f} s, last step→served {end:.3f} s")
    figures = {
        "enqueue_to_first_step_s": round(statistics.median(starts), 3),
        "train_end_to_served_s": round(statistics.median(ends), 3),
        "enqueue_to_first_step_max_s": round(max(starts), 3),
        "train_end_to_served_max_s": round(max(ends), 3),
        "jobs": args.jobs,
        "steps_per_job": args.steps,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
