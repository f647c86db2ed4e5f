"""One CPU training worker, started exactly as ``ganfoundry-worker`` starts each of its own."""

from __future__ import annotations

from pathlib import Path

from services.stack.processes import Service, spawn
from workers.worker_main import worker_commands


def start_worker(settings_env: dict[str, str], log: Path, loglevel: str = "INFO") -> Service:
    """A Celery worker process on the CPU; it is ready when it takes a job from the queue."""
    ((command, extra),) = worker_commands([], loglevel)
    return Service("worker", spawn(command, log, {**settings_env, **extra}), log)
