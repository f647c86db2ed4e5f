"""A job's event stream (SSE) over a real Redis, read through the Flask test client."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from services.api.events import event_stream
from tests.services.conftest import AUTH, Gateway
from workers.events import events_key

SPEC = {"model": "mnist-cgan", "training": {"epochs": 1}}
PROGRESS = {"step": 5, "total_steps": 10, "d_loss": 0.7, "g_loss": 0.7}


def parse(text: str) -> list[dict[str, str]]:
    """SSE text → its events (comment lines kept as {'comment': ...})."""
    events = []
    for block in text.strip().split("\n\n"):
        event: dict[str, str] = {}
        for line in block.split("\n"):
            field, _, value = line.partition(": ")
            event["comment" if field == "" else field] = value
        events.append(event)
    return events


def submitted(gateway: Gateway) -> str:
    return str(gateway.client.post("/v1/jobs", json=SPEC, headers=AUTH).json["id"])


def run_to_success(gateway: Gateway, job_id: str) -> None:
    gateway.store.transition(job_id, "running", attempts=1)
    gateway.store.update(job_id, ("progress", PROGRESS), progress=PROGRESS)
    gateway.store.transition(job_id, "succeeded")


def test_a_finished_jobs_stream_replays_every_event_then_ends(gateway: Gateway) -> None:
    job_id = submitted(gateway)
    run_to_success(gateway, job_id)
    answer = gateway.client.get(f"/v1/jobs/{job_id}/events", headers=AUTH)
    assert answer.status_code == 200 and answer.mimetype == "text/event-stream"
    assert answer.headers["Cache-Control"] == "no-store"
    retry, *events = parse(answer.get_data(as_text=True))
    assert retry == {"retry": "2000"}
    assert [e["event"] for e in events] == ["state", "state", "progress", "end"]
    assert '"state": "queued"' in events[0]["data"] and '"succeeded"' in events[3]["data"]
    assert '"step": 5' in events[2]["data"]
    assert all(e["id"].count("-") == 1 for e in events)
    # Last-Event-ID: a reconnecting client gets what came after, nothing twice, nothing lost
    resumed = gateway.client.get(
        f"/v1/jobs/{job_id}/events", headers=AUTH | {"Last-Event-ID": events[1]["id"]}
    )
    assert parse(resumed.get_data(as_text=True))[1:] == events[2:]


def test_a_live_stream_gets_each_event_as_it_happens(gateway: Gateway) -> None:
    job_id = submitted(gateway)
    answer = gateway.client.get(f"/v1/jobs/{job_id}/events", headers=AUTH, buffered=False)
    chunks: Iterator[bytes] = iter(answer.response)  # type: ignore[arg-type]
    assert next(chunks) == b"retry: 2000\n\n"
    assert b"event: state" in next(chunks)
    later = threading.Timer(0.3, run_to_success, (gateway, job_id))
    started = time.monotonic()
    later.start()
    rest = parse(b"".join(chunks).decode())
    later.join()
    assert [e["event"] for e in rest] == ["state", "progress", "end"]
    assert time.monotonic() - started < 5  # woken by the events, not by a heartbeat
    answer.close()


def test_an_idle_stream_sends_heartbeats(gateway: Gateway) -> None:
    job_id = submitted(gateway)
    services = gateway.app.extensions["ganfoundry"]
    stream = event_stream(services.events, gateway.store, job_id, "0-0", heartbeat_s=0.2)
    assert next(stream).startswith("retry:") and "event: state" in next(stream)
    assert next(stream) == ": heartbeat\n\n"
    gateway.store.cancel(job_id)
    end = next(stream)
    assert "event: end" in end and '"cancelled"' in end
    assert list(stream) == []  # and the stream is over


def test_a_finished_job_without_its_stream_still_ends(gateway: Gateway) -> None:
    job_id = submitted(gateway)
    gateway.store.cancel(job_id)
    gateway.store.redis.delete(events_key(job_id))  # expired, or older than streams
    text = gateway.client.get(f"/v1/jobs/{job_id}/events", headers=AUTH).get_data(as_text=True)
    _retry, end = parse(text)
    assert end["event"] == "end" and '"state": "cancelled"' in end["data"]


def test_bad_requests_for_a_stream(gateway: Gateway) -> None:
    job_id = submitted(gateway)
    url = f"/v1/jobs/{job_id}/events"
    assert gateway.client.get(url).status_code == 401
    assert gateway.client.get(f"/v1/jobs/{'0' * 32}/events", headers=AUTH).status_code == 404
    for bad in ("abc", "1-2-3", "$", "9" * 30 + "-0"):
        answer = gateway.client.get(url, headers=AUTH | {"Last-Event-ID": bad})
        assert answer.status_code == 400 and "Last-Event-ID" in answer.json["detail"]
