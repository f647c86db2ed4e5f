"""The training task: a thin wrapper that maps Celery onto ``run_training_job``.

Each worker process also runs a reaper (``workers.reaper``) and a reconciler
(``workers.reconciler``) from its start, and turns the
start of a warm shutdown (SIGTERM) into ``STOPPING``: the running job writes a checkpoint at its
next step and goes back to the queue, so the worker exits within seconds and no step is lost.
"""

from __future__ import annotations

import os
import socket
import threading

from celery import Celery, Task
from celery.signals import worker_ready, worker_shutting_down

from workers.catalog import RecordedVersion
from workers.celery_app import TRAIN_TASK, send_training_job
from workers.metrics import JOBS, serve_metrics
from workers.reaper import Reaper
from workers.reconciler import Reconciler
from workers.records import Archive
from workers.settings import WorkerSettings
from workers.store import JobStore

STOPPING = threading.Event()
REDIS_OUTAGE_S = 30.0  # a training job rides out a Redis restart this long


def register_tasks(app: Celery, settings: WorkerSettings) -> None:
    """The training task, the reaper, and a warm-up so a first step does not import torch."""
    store = JobStore.from_url(settings.redis_url, outage_s=REDIS_OUTAGE_S)
    worker = f"{socket.gethostname()}:{os.getpid()}"

    def requeue(job_id: str) -> None:
        send_training_job(app, job_id)

    reaper = Reaper(store, requeue, settings.max_worker_losses, settings.reap_interval_s)
    client = settings.torchserve_client()

    def build(entry: RecordedVersion) -> Archive:  # a version served later, from its job
        from workers.publish import archive_from_job  # torch loads in the worker, not the parent

        return archive_from_job(store, settings, entry)

    reconciler = Reconciler(
        store, client, settings.model_store, worker, settings.reconcile_interval_s, build
    )

    @app.task(name=TRAIN_TASK, bind=True, acks_late=True)
    def train_job(self: Task, job_id: str) -> str:
        from workers.runner import run_training_job  # torch loads in the worker, not the parent

        outcome = run_training_job(job_id, store, settings, worker, requeue, STOPPING)
        JOBS.labels(outcome).inc()
        if outcome == "busy":  # another worker holds the lock: look again when its lease is up
            raise self.retry(countdown=settings.heartbeat_s, max_retries=None)
        return outcome

    @worker_ready.connect(weak=False)
    def _start(**_: object) -> None:
        # Solo pool: this is the process that trains; nothing forks after this import.
        from workers.runner import warm_up

        reaper.start()
        reconciler.start()
        if settings.worker_metrics_port:
            serve_metrics(settings.worker_metrics_port, settings.worker_metrics_bind, store.redis)
        warm_up()

    @worker_shutting_down.connect(weak=False)
    def _stop(**_: object) -> None:
        STOPPING.set()
        reaper.stop()
        reconciler.stop()
