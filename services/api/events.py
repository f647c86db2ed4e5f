"""A job's events as Server-Sent Events: its stream in Redis (``workers.events``), followed live.

Each gateway process reads the stream itself (XREAD, blocking), so any number of processes can
serve streams, and a reconnecting client's ``Last-Event-ID`` resumes exactly after the last
event it got. Under gunicorn's gevent workers a waiting stream is a parked greenlet: it ties up
no thread that other requests need (see ``services/gunicorn_conf.py``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import redis

from workers.events import read_events
from workers.store import FINAL, JobNotFound, JobStore

HEARTBEAT_S = 15.0  # a comment line this often keeps proxies (60 s idle, commonly) from closing
RETRY_MS = 2000  # how long an EventSource waits before it reconnects


def events_client(store: JobStore) -> redis.Redis:
    """A client on the store's Redis whose reads may block for a whole heartbeat."""
    kwargs = store.redis.connection_pool.connection_kwargs | {"socket_timeout": HEARTBEAT_S + 5}
    return redis.Redis(connection_pool=redis.ConnectionPool(**kwargs))


def event_stream(
    client: redis.Redis, store: JobStore, job_id: str, after: str, heartbeat_s: float = HEARTBEAT_S
) -> Iterator[str]:
    """SSE text: the job's events after ``after`` ('0': all), live, until its end event.

    A job that ended with no end event left in its stream (the stream expired, or the job is
    older than streams) gets one made from its record, so every stream ends.
    """
    yield f"retry: {RETRY_MS}\n\n"
    block_ms: int | None = None  # the first read answers at once: an ended job ends at once
    closing = False
    while True:
        events = read_events(client, job_id, after, block_ms)
        for event in events:
            yield event.sse()
            if event.kind == "end":
                return
        if events:
            after, block_ms = events[-1].id, None
            continue
        ended = _ended(store, job_id)
        if ended is not None and closing:
            yield f"event: end\ndata: {json.dumps(ended)}\n\n"
            return
        if ended is not None:  # read once more: its last events may have come after the read
            closing, block_ms = True, None
            continue
        if block_ms is not None:
            yield ": heartbeat\n\n"
        block_ms = int(heartbeat_s * 1000)


def _ended(store: JobStore, job_id: str) -> dict[str, Any] | None:
    try:
        job = store.get(job_id)
    except JobNotFound:  # deleted meanwhile
        return {"state": "gone", "at": None}
    if job.state not in FINAL:
        return None
    return {"state": job.state, "at": job.finished_at} | ({"error": job.error} if job.error else {})
