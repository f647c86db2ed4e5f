"""What `celery -A workers.worker_app worker` loads: the app with its task, settings from the env."""

from __future__ import annotations

from typing import Any

from celery.signals import setup_logging

from workers.celery_app import make_app
from workers.logs import log_as_json
from workers.settings import WorkerSettings
from workers.tasks import register_tasks

settings = WorkerSettings.from_env()
app = make_app(settings.redis_url, settings.longest_job_s)
register_tasks(app, settings)


@setup_logging.connect(weak=False)
def _logs(loglevel: Any = "INFO", **_: Any) -> None:
    """JSON lines, each with the job and the request that submitted it (Celery's own format
    otherwise)."""
    log_as_json(loglevel or "INFO")
