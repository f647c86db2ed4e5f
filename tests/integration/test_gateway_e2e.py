"""The whole stack over HTTP: Redis, a Celery worker, TorchServe and the gateway under gunicorn."""

from __future__ import annotations

import io
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from PIL import Image

from services.stack.gateway import GatewayProcess
from tests.integration.conftest import KEY


def call(
    gateway: GatewayProcess,
    method: str,
    path: str,
    body: Any = None,
    accept: str | None = None,
    request_id: str | None = None,
) -> tuple[int, dict[str, str], bytes]:
    headers = {"Authorization": f"Bearer {KEY}"}
    if request_id:
        headers["X-Request-Id"] = request_id
    data = None
    if body is not None:
        data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
    if accept:
        headers["Accept"] = accept
    request = urllib.request.Request(gateway.url + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def poll(
    gateway: GatewayProcess, job_url: str, done: Any, timeout_s: float = 180
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status, _, body = call(gateway, "GET", job_url)
        job = json.loads(body)
        if status == 200 and done(job):
            return job
        time.sleep(0.3)
    raise AssertionError(f"{job_url} stuck: {job}")


def test_train_serve_and_draw_sevens_over_http(
    gateway: GatewayProcess, start_worker, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    worker = start_worker()
    spec = {
        "model": "mnist-cgan",
        "training": {"max_steps": 300, "seed": 4},
        "serve_as": "e2e-digits",
    }
    status, headers, body = call(gateway, "POST", "/v1/jobs", spec, request_id="submit7")
    assert status == 202, body
    job_url = headers["Location"]
    job = poll(gateway, job_url, lambda j: j["state"] in ("succeeded", "failed", "cancelled"))
    assert job["state"] == "succeeded", job["error"]
    assert job["served"] == {"name": "e2e-digits", "version": "1"}
    assert job["request_id"] == "submit7"
    logged = [json.loads(line) for line in worker.log.read_text().splitlines() if line[:1] == "{"]
    about_job = [line for line in logged if line.get("job_id") == job["id"]]
    assert about_job and all(line["request_id"] == "submit7" for line in about_job)

    for name in ("loss_plot", "samples"):
        status, headers, png = call(gateway, "GET", job["artifacts"][name])
        assert status == 200 and headers["Content-Type"] == "image/png"
        assert Image.open(io.BytesIO(png)).size[0] > 100
    status, _, metrics = call(gateway, "GET", job["artifacts"]["metrics"])
    assert json.loads(metrics)["training"]["steps"] == 300

    status, headers, png = call(
        gateway,
        "POST",
        "/v1/models/e2e-digits/generate",
        {"n": 16, "label": 7, "seed": 0},
        accept="image/png",
    )
    assert status == 200 and headers["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(png)).size == (8 * 30 + 2, 2 * 30 + 2)  # 16 digits, 8 a row
    status, _, again = call(gateway, "GET", "/v1/models/e2e-digits/generate?n=16&label=7&seed=0")
    assert status == 200 and again == png  # same seeds, same picture

    status, _, body = call(gateway, "GET", "/v1/models/e2e-digits")
    model = json.loads(body)
    assert model["versions"] == {"1": job["id"]} and model["num_classes"] == 10

    status, _, body = call(gateway, "POST", "/v1/models/e2e-digits/generate", {"n": 2, "label": 12})
    assert status == 422 and "label" in json.loads(body)["fields"]


def test_cancel_a_second_job_over_http(gateway: GatewayProcess, start_worker) -> None:  # type: ignore[no-untyped-def]
    start_worker()
    status, headers, _ = call(
        gateway,
        "POST",
        "/v1/jobs",
        {"model": "mnist-cgan", "training": {"epochs": 500, "batch_size": 32}},
    )
    assert status == 202
    poll(gateway, headers["Location"], lambda j: j["state"] == "running" and j["progress"])
    status, _, _ = call(gateway, "DELETE", headers["Location"])
    assert status == 202
    job = poll(gateway, headers["Location"], lambda j: j["state"] == "cancelled", timeout_s=10)
    assert job["state"] == "cancelled"
    status, _, _ = call(gateway, "DELETE", headers["Location"])
    assert status == 409


def sse_events(gateway: GatewayProcess, path: str, last_id: str | None = None) -> Iterator[dict]:
    """Each event of a stream from the real gateway, as it comes (blank-line separated)."""
    headers = {"Authorization": f"Bearer {KEY}"} | ({"Last-Event-ID": last_id} if last_id else {})
    request = urllib.request.Request(gateway.url + path, headers=headers)
    with urllib.request.urlopen(request, timeout=60) as answer:
        assert answer.headers["Content-Type"].startswith("text/event-stream")
        event: dict[str, str] = {}
        for raw in answer:
            line = raw.decode().rstrip("\n")
            if line:
                field, _, value = line.partition(": ")
                event[field] = value
                continue
            if "event" in event:
                yield event | {"data": json.loads(event["data"])}
            event = {}


def test_a_job_is_watched_live_over_server_sent_events(
    gateway: GatewayProcess, start_worker
) -> None:  # type: ignore[no-untyped-def]
    start_worker()
    status, headers, _ = call(
        gateway, "POST", "/v1/jobs", {"model": "mnist-cgan", "training": {"max_steps": 400}}
    )
    assert status == 202
    events, live = [], []
    for event in sse_events(gateway, headers["Location"] + "/events"):
        events.append(event)
        if event["event"] == "samples" and not live:  # fetched while the job runs
            for name in ("samples.png", "loss.png", "metrics"):
                live.append(call(gateway, "GET", f"{headers['Location']}/{name}"))
        if event["event"] == "end":
            break
    kinds = [e["event"] for e in events]
    assert kinds[0] == "state" and events[0]["data"]["state"] == "queued"
    assert events[-1]["data"]["state"] == "succeeded" and kinds.count("end") == 1
    steps = [e["data"]["step"] for e in events if e["event"] == "progress"]
    assert len(steps) >= 3 and steps == sorted(set(steps)) and steps[-1] == 400
    assert next(e["data"]["step"] for e in events if e["event"] == "samples") == 1
    (grid_status, grid_headers, grid), (_, _, plot), (_, _, metrics) = live
    assert grid_status == 200 and grid_headers["Cache-Control"] == "private, no-store"
    assert Image.open(io.BytesIO(grid)).size == (2 * 302, 2 * 302)  # a row per class, 10 seeds
    assert Image.open(io.BytesIO(plot)).size[0] > 600
    assert json.loads(metrics)["state"] == "running" and json.loads(metrics)["series"]["d_loss"]
    # a client that lost the stream and sends the last id it saw misses nothing, gets no repeat
    middle = len(events) // 2
    resumed = list(sse_events(gateway, headers["Location"] + "/events", events[middle]["id"]))
    assert resumed == events[middle + 1 :]
