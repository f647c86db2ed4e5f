"""The gateway's Prometheus metrics at /metrics: requests by route, method and status, their
latency, and the images generate made. Reading them needs a key with the ``metrics`` scope
(or an admin's): route counts say who uses what.

Under gunicorn each worker process writes its figures to files in PROMETHEUS_MULTIPROC_DIR (made
by services/gunicorn_conf.py) and /metrics adds them up; without it (tests, a single process)
they live in this process.
"""

from __future__ import annotations

import os

from flask import Blueprint, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from services.auth import check_key, needs

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
REQUESTS = Counter(
    "ganfoundry_gateway_requests", "Requests answered", ["route", "method", "status"]
)
LATENCY = Histogram(
    "ganfoundry_gateway_request_seconds",
    "Time from a request's arrival to its answer (an event stream: its whole life)",
    ["route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60),
)
IMAGES = Counter("ganfoundry_gateway_images", "Images made by generate", ["model"])

metrics = Blueprint("metrics", __name__)
metrics.before_request(check_key)


@metrics.get("/metrics")
@needs("metrics")
def scrape() -> Response:
    return Response(generate_latest(_registry()), mimetype=CONTENT_TYPE_LATEST)


def observe(request: Request, status: int, seconds: float) -> None:
    """Count one answered request under its route's rule (not its path: ids would be labels)."""
    route = request.url_rule.rule if request.url_rule is not None else "unmatched"
    REQUESTS.labels(route, request.method, str(status)).inc()
    LATENCY.labels(route, request.method).observe(seconds)


def images_made(model: str, count: int) -> None:
    IMAGES.labels(model).inc(count)


def _registry() -> CollectorRegistry:
    if not os.environ.get(MULTIPROCESS_DIR):
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return registry
