"""The training task: a thin wrapper that maps Celery onto ``run_training_job``."""

from __future__ import annotations

import logging
import os
import socket

from celery import Celery, Task
from celery.signals import worker_ready

from workers.celery_app import TRAIN_TASK
from workers.settings import WorkerSettings
from workers.store import JobStore

logger = logging.getLogger(__name__)


def register_tasks(app: Celery, settings: WorkerSettings) -> None:
    """The training task, and a warm-up so a job's first step is not spent importing torch."""
    store = JobStore.from_url(settings.redis_url)
    worker = f"{socket.gethostname()}:{os.getpid()}"

    @app.task(name=TRAIN_TASK, bind=True, acks_late=True)
    def train_job(self: Task, job_id: str) -> str:
        from workers.runner import run_training_job  # torch loads in the worker, not the parent

        outcome = run_training_job(job_id, store, settings, worker)
        logger.info("job %s: %s", job_id, outcome)
        if outcome == "busy":  # another worker holds the lock: look again when its lease is up
            raise self.retry(countdown=settings.lock_lease_s, max_retries=None)
        return outcome


@worker_ready.connect(weak=False)
def _warm_up(**_: object) -> None:
    # Solo pool: this is the process that trains; nothing forks after this import.
    from workers.runner import warm_up

    warm_up()
