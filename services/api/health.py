"""Liveness and readiness; no key needed."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from services.api import services

health = Blueprint("health", __name__)


@health.get("/healthz")
def healthz() -> Response:
    """The process is up."""
    return jsonify({"status": "ok"})


@health.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Redis and TorchServe answer (each probe gives up within half a second)."""
    timeout = services().settings.backend_timeout_s
    checks = {"redis": services().store.ping(), "torchserve": services().torchserve.ping(timeout)}
    ready = all(checks.values())
    body = {"status": "ready" if ready else "unavailable", "checks": checks}
    return jsonify(body), 200 if ready else 503
