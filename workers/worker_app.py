"""What `celery -A workers.worker_app worker` loads: the app with its task, settings from the env."""

from __future__ import annotations

from workers.celery_app import make_app
from workers.settings import WorkerSettings
from workers.tasks import register_tasks

settings = WorkerSettings.from_env()
app = make_app(settings.redis_url, settings.longest_job_s)
register_tasks(app, settings)
