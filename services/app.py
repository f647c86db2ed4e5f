"""The Flask gateway: create_app(settings) wires the job store, TorchServe and the job queue."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, g, request

from services.api.docs import docs
from services.api.health import health
from services.api.jobs import jobs
from services.api.models import models
from services.errors import register_error_handlers
from services.settings import GatewaySettings
from services.torchserve_client import TorchServeClient
from workers.store import JobStore

logger = logging.getLogger("ganfoundry.gateway")
JobSender = Callable[[str], None]


@dataclass
class Services:
    settings: GatewaySettings
    store: JobStore
    torchserve: TorchServeClient
    send_job: JobSender
    # name → (expiry, model): generation skips two Redis reads per request (a new default
    # version is seen within MODEL_CACHE_S; a new name at once, since misses are not cached)
    model_cache: dict[str, tuple[float, dict[str, Any]]] = field(default_factory=dict)


def celery_sender(settings: GatewaySettings) -> JobSender:
    """Send training tasks by name (the gateway never imports the training code)."""
    from workers.celery_app import make_app, send_training_job

    app = make_app(settings.redis_url, settings.longest_job_s)
    return lambda job_id: send_training_job(app, job_id)


def create_app(
    settings: GatewaySettings | None = None,
    *,
    store: JobStore | None = None,
    torchserve: TorchServeClient | None = None,
    send_job: JobSender | None = None,
) -> Flask:
    settings = settings or GatewaySettings.from_env()
    app = Flask("ganfoundry")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["ganfoundry"] = Services(
        settings=settings,
        store=store or JobStore.from_url(settings.redis_url, timeout_s=settings.backend_timeout_s),
        torchserve=torchserve
        or TorchServeClient(
            settings.torchserve_inference_url,
            settings.torchserve_management_url,
            timeout_s=settings.generate_timeout_s,
        ),
        send_job=send_job or celery_sender(settings),
    )
    for blueprint in (health, jobs, models, docs):
        app.register_blueprint(blueprint)
    register_error_handlers(app)
    app.before_request(_start_request)
    app.after_request(_finish_request)
    return app


def _start_request() -> None:
    given = request.headers.get("X-Request-Id", "")
    g.request_id = given if given.isalnum() and len(given) <= 64 else uuid.uuid4().hex
    g.started = time.perf_counter()


def _finish_request(response: Response) -> Response:
    response.headers["X-Request-Id"] = g.get("request_id", "")
    elapsed_ms = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
    logger.info(
        "%s %s %s %.1fms request_id=%s",
        request.method,
        request.path,
        response.status_code,
        elapsed_ms,
        g.get("request_id"),
    )
    return response
