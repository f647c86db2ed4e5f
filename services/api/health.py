"""Liveness and readiness; no key needed."""

from __future__ import annotations

from flask import Response, jsonify
from flask_openapi3 import APIBlueprint, Tag

from services.api import services
from services.errors import RETRY_AFTER_S

health = APIBlueprint(
    "health", __name__, abp_tags=[Tag(name="health", description="Liveness and readiness")]
)
CHECKS = {
    "description": "status and each dependency's check",
    "content": {"application/json": {"schema": {"type": "object"}}},
}


@health.get("/healthz", summary="Liveness", responses={200: CHECKS})
def healthz() -> Response:
    """The process is up."""
    return jsonify({"status": "ok"})


@health.get(
    "/readyz",
    summary="Readiness of Redis and TorchServe",
    responses={200: CHECKS, 503: CHECKS | {"description": "a dependency is down"}},
)
def readyz() -> tuple[Response, int, dict[str, str]]:
    """Redis and TorchServe answer (each probe gives up within half a second), and TorchServe's
    start found nothing it cannot use (``problems`` says what, e.g. an unreadable model store)."""
    timeout = services().settings.backend_timeout_s
    problems = services().torchserve.start_problems()
    checks = {
        "redis": services().store.ping(),
        "torchserve": services().torchserve.ping(timeout) and not problems,
    }
    ready = all(checks.values())
    body: dict[str, object] = {"status": "ready" if ready else "unavailable", "checks": checks}
    if problems:
        body["problems"] = problems
    return (
        jsonify(body),
        200 if ready else 503,
        {} if ready else {"Retry-After": str(RETRY_AFTER_S)},
    )
