"""Recovery with the shipped settings: a worker SIGKILLed mid-job, and a worker stopped (SIGTERM).

Real Redis and Celery worker processes. One long mnist-cgan job; --kills times: SIGKILL its
worker, start a fresh one at once, and time until the job's step counter moves again on it
(the lease lapses, a reaper requeues, the new worker resumes from the last checkpoint). Steps
lost per kill: the last step seen before the kill less the step it resumed from; each kill
comes at a random moment after a checkpoint, within the checkpoint floor's seconds. Then one
SIGTERM: seconds until the worker exits, and the steps it lost (0 when the stop checkpointed
the step it reached). Last line: JSON.

    python bench/recovery.py [--kills 3]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import signal
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from model_archive.config import ServerConfig
from services.stack.local import worker_settings
from services.stack.processes import Service, free_port
from services.stack.redis import start_redis
from services.stack.worker import start_worker
from workers.celery_app import make_app, send_training_job
from workers.spec import JobSpec
from workers.store import JobStore

CHECKPOINT_EVERY = 50
SPEC = {
    "model": "mnist-cgan",
    "training": {
        "epochs": 1000,
        "batch_size": 64,
        "checkpoint_every": CHECKPOINT_EVERY,
        "preflight": False,
    },
}


def progress_when(store: JobStore, job_id: str, ok: Any, timeout_s: float = 120) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        progress = store.get(job_id).progress or {}
        if progress.get("step") is not None and ok(progress):
            return progress
        time.sleep(0.02)
    raise TimeoutError(f"job {job_id}: no such progress within {timeout_s} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        redis = start_redis(root / "redis", free_port())
        serving = ServerConfig(root / "store", free_port(), free_port(), free_port())
        settings = worker_settings(root, redis.url, serving, None, progress_interval_s=0.1)
        store = JobStore.from_url(redis.url)
        workers: list[Service] = []

        def new_worker() -> Service:
            workers.append(start_worker(settings.to_env(), root / f"worker-{len(workers)}.log"))
            return workers[-1]

        try:
            worker = new_worker()
            job = store.create(JobSpec.model_validate(SPEC))
            send_training_job(make_app(settings.redis_url, settings.longest_job_s), job.id)
            attempt, start = 1, 0
            chance = random.Random(0)
            resumes, lost = [], []
            rates = []
            for _ in range(args.kills):
                seen = progress_when(
                    store,
                    job.id,
                    lambda p, s=start, a=attempt: p["attempt"] == a and p["checkpoint_step"] > s,
                )
                waited = time.monotonic()
                time.sleep(chance.uniform(0.5, settings.checkpoint_min_s))  # anywhere in between
                before, seen = seen, store.get(job.id).progress or seen
                rates.append((seen["step"] - before["step"]) / (time.monotonic() - waited))
                worker.process.send_signal(signal.SIGKILL)
                worker.process.wait()
                killed = time.monotonic()
                worker = new_worker()
                attempt += 1
                moving = progress_when(
                    store,
                    job.id,
                    lambda p, a=attempt: p["attempt"] == a and p["step"] > p["checkpoint_step"],
                )
                resumes.append(time.monotonic() - killed)
                start = moving["checkpoint_step"]
                lost.append(seen["step"] - start)
            seen = progress_when(
                store,
                job.id,
                lambda p, a=attempt, s=start: p["attempt"] == a and p["step"] > s + 200,
            )
            asked = time.monotonic()
            worker.process.send_signal(signal.SIGTERM)
            worker.process.wait(timeout=60)
            graceful = time.monotonic() - asked
            new_worker()
            moved = progress_when(store, job.id, lambda p, a=attempt + 1: p["attempt"] == a)
            store.cancel(job.id)
        finally:
            for started in workers:
                started.stop()
            redis.stop()
    # a checkpoint comes at the first multiple of checkpoint_every once the floor's seconds passed
    floor_steps = max(rates) * settings.checkpoint_min_s
    interval = (math.ceil(floor_steps / CHECKPOINT_EVERY) + 1) * CHECKPOINT_EVERY
    figures = {
        "resume_after_kill_s": round(max(resumes), 2),
        "resume_after_kill_s_median": round(statistics.median(resumes), 2),
        "steps_lost_max": max(lost),
        "checkpoint_interval_steps": interval,
        "graceful_stop_s": round(graceful, 2),
        "graceful_steps_lost": max(0, seen["step"] - moved["checkpoint_step"]),
        "heartbeat_s": settings.heartbeat_s,
        "reap_interval_s": settings.reap_interval_s,
        "checkpoint_min_s": settings.checkpoint_min_s,
        "kills": args.kills,
    }
    print(
        f"SIGKILL → moving again: max {figures['resume_after_kill_s']} s "
        f"(median {figures['resume_after_kill_s_median']} s) over {args.kills} kills; "
        f"steps lost at most {figures['steps_lost_max']} (one checkpoint interval: {interval}); "
        f"SIGTERM → exit {figures['graceful_stop_s']} s, "
        f"{figures['graceful_steps_lost']} steps lost"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
