"""The Celery app, configured from WorkerSettings. Importing it does no torch or CUDA work.

Choices: a 'training' queue; late acknowledgement and prefetch 1 (a job is acknowledged only
when it ends, and a worker holds one at a time); a broker visibility timeout longer than the
longest job, so a running job is not handed to a second worker; tasks of a lost worker are
rejected back to the queue (safe: the task is idempotent, guarded by the job lock, and resumes
from its checkpoint).
"""

from __future__ import annotations

from celery import Celery
from kombu import Queue

from workers.settings import DEFAULT_LONGEST_JOB_S

TRAINING_QUEUE = "training"
TRAIN_TASK = "ganfoundry.train_job"


def make_app(redis_url: str, longest_job_s: int = DEFAULT_LONGEST_JOB_S) -> Celery:
    """The app for workers and for senders (the gateway); both must agree on these settings."""
    timeout = visibility_timeout(longest_job_s)
    app = Celery("ganfoundry", broker=redis_url, backend=redis_url)
    app.conf.update(
        task_queues=[Queue(TRAINING_QUEUE)],
        task_default_queue=TRAINING_QUEUE,
        task_routes={TRAIN_TASK: {"queue": TRAINING_QUEUE}},
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_transport_options={
            "visibility_timeout": timeout,
            # look for a dead worker's messages every few seconds, not every 100 s (the default)
            "unacked_restore_interval": max(1, min(10, timeout // 4)),
            "unacked_restore_throttle": 1,
        },
        result_expires=7 * 24 * 3600,
        task_serializer="json",
        accept_content=["json"],
        worker_hijack_root_logger=False,
        # task events for Flower (compose's monitoring profile): received, started, succeeded...
        worker_send_task_events=True,
        task_send_sent_event=True,
        broker_connection_retry_on_startup=True,
        worker_cancel_long_running_tasks_on_connection_loss=False,
    )
    return app


def visibility_timeout(longest_job_s: int) -> int:
    """Longer than the longest job: a message is only handed out again once its worker is gone."""
    return int(longest_job_s * 1.1) + 1


def send_training_job(app: Celery, job_id: str) -> None:
    """Queue a job by id (messages carry ids, never objects); used by the gateway too."""
    app.send_task(TRAIN_TASK, args=[job_id], queue=TRAINING_QUEUE)
