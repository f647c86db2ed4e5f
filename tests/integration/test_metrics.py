"""Prometheus metrics from the real processes: the gateway under gunicorn (its workers' figures
added up) and a Celery worker that trains a job."""

from __future__ import annotations

import http.client
import json
import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from services.stack.gateway import GatewayProcess
from services.stack.processes import free_port
from tests.integration.conftest import KEY, Stack

AUTH = {"Authorization": f"Bearer {KEY}"}
JOB = {"model": "mnist-gan", "training": {"max_steps": 40, "seed": 2}}


def scrape(url: str, headers: dict[str, str] | None = None) -> dict[tuple[str, str], float]:
    """name and its labels as JSON → value."""
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as answer:
        text = answer.read().decode()
    return {
        (sample.name, json.dumps(sample.labels, sort_keys=True)): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def labels(**values: str) -> str:
    return json.dumps(values, sort_keys=True)


def test_the_gateways_metrics_add_up_its_gunicorn_workers(gateway: GatewayProcess) -> None:
    key = (
        "ganfoundry_gateway_requests_total",
        labels(method="GET", route="/v1/jobs", status="200"),
    )
    before = scrape(f"{gateway.url}/metrics", AUTH).get(key, 0.0)
    for _ in range(30):  # new connections: gunicorn hands them to both workers
        connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
        connection.request("GET", "/v1/jobs", headers=AUTH)
        assert connection.getresponse().status == 200
        connection.close()
    assert scrape(f"{gateway.url}/metrics", AUTH)[key] - before == 30


def test_a_worker_counts_its_steps_jobs_and_queue_wait(stack: Stack, start_worker) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    watched = Stack(
        stack.settings, stack.env | {"GANFOUNDRY_WORKER_METRICS_PORT": str(port)}, stack.store,
        stack.folder,
    )  # fmt: skip
    start_worker(watched)
    job_id = watched.submit(JOB)
    assert watched.wait(job_id, lambda j: j.finished).state == "succeeded"
    ended = ("ganfoundry_worker_jobs_total", labels(outcome="succeeded"))
    deadline = time.monotonic() + 10  # the task counts its outcome just after the record says it
    while (figures := scrape(f"http://127.0.0.1:{port}/metrics")).get(ended) != 1:
        assert time.monotonic() < deadline, figures
        time.sleep(0.1)
    assert figures[("ganfoundry_worker_training_steps_total", labels())] == 40
    assert figures[("ganfoundry_worker_queue_wait_seconds_count", labels())] == 1
    assert figures[("ganfoundry_worker_training_seconds_count", labels())] == 1
    assert figures[("ganfoundry_jobs", labels(state="succeeded"))] >= 1
    assert figures[("ganfoundry_jobs", labels(state="running"))] == 0
    assert figures[("ganfoundry_queue_depth", labels())] == 0
