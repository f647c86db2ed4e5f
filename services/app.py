"""The Flask gateway: create_app(settings) wires the job store, TorchServe and the job queue."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis
from flask import Response, g, request
from flask_limiter import Limiter
from flask_openapi3 import Info, OpenAPI

from model_archive.client import TorchServeClient
from services.api import ApiRequest
from services.api.docs import docs
from services.api.events import events_client
from services.api.health import health
from services.api.jobs import jobs
from services.api.keys import keys
from services.api.lifecycle import models  # the models blueprint, with its lifecycle views
from services.api.models import BODIES
from services.errors import raise_invalid, register_error_handlers
from services.limits import make_limiter
from services.metrics import metrics, observe
from services.schemas import Problem
from services.settings import GatewaySettings
from services.web import web
from workers.keys import KeyStore
from workers.store import JobStore

logger = logging.getLogger("ganfoundry.gateway")
JobSender = Callable[[str], None]
INFO = Info(
    title="GAN Foundry",
    version="1",
    description="Train the book's GANs as jobs; generate images by class. Send "
    "'Authorization: Bearer <API key>'; errors are RFC 9457 problems (application/problem+json).",
)


@dataclass
class Services:
    settings: GatewaySettings
    store: JobStore
    torchserve: TorchServeClient
    send_job: JobSender
    events: redis.Redis  # the store's Redis, for reads that wait up to a heartbeat (SSE)
    keys: KeyStore  # the issued API keys (the settings' keys are admins beside them)
    # name → (expiry, model): generation skips two Redis reads per request (a new default
    # version is seen within MODEL_CACHE_S; a new name at once, since misses are not cached)
    model_cache: dict[str, tuple[float, dict[str, Any]]] = field(default_factory=dict)
    limiter: Limiter | None = None  # the rate limits (services/limits.py), set by create_app


class GatewayApp(OpenAPI):
    """flask-openapi3, less the 422 it adds to every operation (a view that can answer 422
    declares it, as a problem), plus the bodies that views validate themselves (BODIES)."""

    request_class = ApiRequest

    def generate_spec_json(self) -> None:
        super().generate_spec_json()
        for item in self.spec_json["paths"].values():
            for operation in item.values():
                added = operation["responses"].get("422", {}).get("content", {})
                if "application/json" in added:  # flask-openapi3's list of its own errors
                    del operation["responses"]["422"]
        schemas = self.spec_json["components"]["schemas"]
        for (path, method), model in BODIES.items():
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(schema.pop("$defs", {}))
            schemas[model.__name__] = schema
            self.spec_json["paths"][path][method]["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": f"#/components/schemas/{model.__name__}"}
                    }
                },
            }


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
) -> OpenAPI:
    settings = settings or GatewaySettings.from_env()
    app = GatewayApp(
        "ganfoundry",
        info=INFO,
        security_schemes={"apiKey": {"type": "http", "scheme": "bearer"}},
        doc_ui=False,  # /openapi.json and /docs come from services.api.docs
        validation_error_status=422,
        validation_error_model=Problem,
        validation_error_callback=raise_invalid,
    )
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    store = store or JobStore.from_url(settings.redis_url, timeout_s=settings.backend_timeout_s)
    app.extensions["ganfoundry"] = Services(
        settings=settings,
        store=store,
        torchserve=torchserve
        or TorchServeClient(
            settings.torchserve_inference_url,
            timeout_s=settings.generate_timeout_s,
            key_file=settings.torchserve_key_file,
        ),
        send_job=send_job or celery_sender(settings),
        events=events_client(store),
        keys=KeyStore(store.redis),
    )
    app.before_request(_start_request)  # first: a request refused by a limit has its id too
    app.extensions["ganfoundry"].limiter = make_limiter(app, settings)
    for api in (health, jobs, models, keys):
        app.register_api(api)
    app.register_blueprint(docs)
    app.register_blueprint(web)  # the console at /
    app.register_blueprint(metrics)  # /metrics, for Prometheus
    register_error_handlers(app)
    app.after_request(_finish_request)
    return app


def _start_request() -> None:
    given = request.headers.get("X-Request-Id", "")
    g.request_id = given if given.isalnum() and len(given) <= 64 else uuid.uuid4().hex
    g.started = time.perf_counter()


def _finish_request(response: Response) -> Response:
    response.headers["X-Request-Id"] = g.get("request_id", "")
    elapsed_s = time.perf_counter() - g.get("started", time.perf_counter())
    observe(request, response.status_code, elapsed_s)
    fields = {"method": request.method, "path": request.path, "status": response.status_code}
    logger.info("request", extra=fields | {"ms": round(elapsed_s * 1000, 2)})
    return response
