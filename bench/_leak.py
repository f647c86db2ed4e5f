"""TorchServe's memory after many jobs that do not ask to be served (``leak_mb``).

Each job runs the workers' own path (``run_training_job``: train, evaluate, export the ``.mar``)
against the real Redis and TorchServe; only a job with ``serve_as`` registers anything.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import psutil

from workers.runner import run_training_job
from workers.settings import WorkerSettings
from workers.spec import JobSpec
from workers.store import JobStore

TINY = JobSpec(model="pattern-1010", training={"max_steps": 1, "preflight": False})


def group_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its children (TorchServe's frontend and workers)."""
    root = psutil.Process(pid)
    total = 0
    for process in [root, *root.children(recursive=True)]:
        try:
            total += process.memory_info().rss
        except psutil.Error:
            continue  # ended meanwhile
    return total / 2**20


def settled_rss_mb(pid: int, warm: Callable[[], None], timeout_s: float = 90.0) -> float:
    """The group's RSS once it stops moving, after ``warm`` (a model worker grows over its first
    requests): sampled every 5 s until two samples are within 5 MB."""
    warm()
    last = group_rss_mb(pid)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        time.sleep(5)
        now = group_rss_mb(pid)
        if abs(now - last) <= 5:
            return now
        last = now
    return last


def jobs_without_serving(store: JobStore, settings: WorkerSettings, count: int) -> float:
    """Run ``count`` tiny jobs without ``serve_as`` to success; returns the seconds taken."""
    started = time.monotonic()
    for _ in range(count):
        job = store.create(TINY)
        outcome = run_training_job(job.id, store, settings, "bench", requeue=lambda _: None)
        if outcome != "succeeded":
            raise RuntimeError(f"job {job.id}: {outcome}: {store.get(job.id).error}")
    return time.monotonic() - started
