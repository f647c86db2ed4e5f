"""Job events through the gateway under gunicorn: milliseconds from a worker's progress write to
an SSE client's receipt (event_p50_ms), and what --streams open event streams, each receiving
events, add to other clients' generate median (added_p50_ms_with_50_streams: rounds with and
without the streams alternate in one run). A real Redis, TorchServe and gateway. Last line: JSON.

    python bench/events_latency.py [--events 200] [--streams 50] [--requests 200]
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from _http import latencies, serve_digits, summary

from services.stack.local import LocalStack
from workers.spec import JobSpec
from workers.store import JobStore

KEY = "bench-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}"}
SPACING_S = 0.02  # between two timed progress writes
BACKGROUND_S = 0.1  # between two progress writes while generate is timed: streams stay busy


def follow(port: int, job_id: str, got: Callable[[dict], None], ready: threading.Event) -> None:
    """Read a job's stream until its end event, handing each progress event's data to ``got``."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("GET", f"/v1/jobs/{job_id}/events", headers=AUTH)
    answer = connection.getresponse()
    assert answer.status == 200, answer.read()
    ready.set()
    kind = ""
    for raw in answer:
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: ") and kind == "progress":
            got(json.loads(line[6:]))
        elif kind == "end":
            break
    connection.close()


def open_streams(port: int, job_id: str, count: int) -> list[threading.Thread]:
    threads = []
    for _ in range(count):
        ready = threading.Event()
        thread = threading.Thread(target=follow, args=(port, job_id, lambda _: None, ready))
        thread.start()
        if not ready.wait(30):
            raise RuntimeError("an event stream did not open")
        threads.append(thread)
    return threads


def publish(store: JobStore, job_id: str, n: int) -> None:
    """What a worker writes at a progress update: the record and the event, in one transaction."""
    values = {"n": n, "sent": time.time()}
    store.update(job_id, ("progress", values), progress=values)


def event_latencies(port: int, store: JobStore, count: int) -> list[float]:
    job = store.create(JobSpec(model="mnist-cgan"))
    received: dict[int, float] = {}
    ready = threading.Event()
    reader = threading.Thread(
        target=follow,
        args=(
            port,
            job.id,
            lambda data: received.setdefault(data["n"], time.perf_counter()),
            ready,
        ),
    )
    reader.start()
    ready.wait(30)
    time.sleep(0.5)  # the stream's first read has been answered: it waits on Redis now
    sent: dict[int, float] = {}
    for n in range(count):
        sent[n] = time.perf_counter()
        publish(store, job.id, n)
        time.sleep(SPACING_S)
    store.cancel(job.id)
    reader.join(30)
    return [(received[n] - sent[n]) * 1000 for n in sent if n in received]


def generate_ms(port: int, requests: int) -> list[float]:
    headers = {"Content-Type": "application/json"} | AUTH
    return latencies(port, "/v1/models/digits/generate", headers, requests, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--requests", type=int, default=200, help="generate calls per round")
    args = parser.parse_args()
    quiet: list[float] = []
    busy: list[float] = []
    with tempfile.TemporaryDirectory() as tmp, LocalStack(Path(tmp)) as stack:
        served = serve_digits(stack, Path(tmp), KEY)
        port, store = served.gateway.port, served.store
        events = event_latencies(port, store, args.events)
        for _round in range(2):  # alternate, so drift hits both sides alike
            quiet += generate_ms(port, args.requests)
            job = store.create(JobSpec(model="mnist-cgan"))
            streams = open_streams(port, job.id, args.streams)
            stop = threading.Event()

            def background(job_id: str = job.id, stop: threading.Event = stop) -> None:
                n = 0
                while not stop.wait(BACKGROUND_S):
                    publish(store, job_id, n)
                    n += 1

            writer = threading.Thread(target=background)
            writer.start()
            busy += generate_ms(port, args.requests)
            stop.set()
            writer.join()
            store.cancel(job.id)  # the end event closes every stream
            for thread in streams:
                thread.join(30)
    if len(events) < args.events:
        raise RuntimeError(f"{args.events - len(events)} of {args.events} events never arrived")
    quiet_p50, _ = summary(quiet)
    busy_p50, busy_p99 = summary(busy)
    figures = {
        "event_p50_ms": round(statistics.median(events), 2),
        "event_p99_ms": round(summary(events)[1], 2),
        "events": len(events),
        "generate_p50_ms": round(quiet_p50, 2),
        f"generate_p50_ms_with_{args.streams}_streams": round(busy_p50, 2),
        f"generate_p99_ms_with_{args.streams}_streams": round(busy_p99, 2),
        f"added_p50_ms_with_{args.streams}_streams": round(busy_p50 - quiet_p50, 2),
        "server": "gunicorn gevent, 2 workers (services/gunicorn_conf.py)",
    }
    print(
        f"progress write -> SSE client: p50 {figures['event_p50_ms']} ms "
        f"(p99 {figures['event_p99_ms']} ms) over {len(events)} events"
    )
    print(
        f"generate p50 {quiet_p50:.2f} ms, with {args.streams} open streams {busy_p50:.2f} ms "
        f"(added {busy_p50 - quiet_p50:.2f} ms)"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
