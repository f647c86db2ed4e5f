"""A job's events: one Redis stream per job, written by the workers and the store, read by the
gateway's Server-Sent Events (any number of gateway processes: each reads the stream itself).

Imports redis only (no torch), so the gateway can share it.

Key ``gf:job:<id>:events``; each entry has ``kind`` and ``data`` (JSON). Kinds: ``state`` (every
change of state, the first at submission), ``progress`` (as written to the record), ``samples``
(new live outputs: loss plot, sample grid, loss series), and ``end`` (the change to a final
state: nothing follows it). An entry's stream id (``<ms>-<n>``) is its SSE id, so a client that
sends ``Last-Event-ID`` reads on from exactly there.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from workers.catalog import PREFIX

MAX_EVENTS = 5000  # kept per job (about): progress is throttled, a long job writes ~1000
KEEP_S = 7 * 24 * 3600  # a stream outlives its last event by this long
EVENT_ID = re.compile(r"^[0-9]{1,20}-[0-9]{1,20}$")
KINDS = ("state", "progress", "samples", "end")


@dataclass(frozen=True)
class Event:
    id: str
    kind: str
    data: dict[str, Any]

    def sse(self) -> str:
        """The event as Server-Sent Events text (one ``data`` line: JSON has no newlines)."""
        return f"id: {self.id}\nevent: {self.kind}\ndata: {json.dumps(self.data)}\n\n"


def events_key(job_id: str) -> str:
    return f"{PREFIX}job:{job_id}:events"


def add_event(pipe: Any, job_id: str, kind: str, data: dict[str, Any]) -> None:
    """Queue one event on a Redis client or pipeline (inside a MULTI, it lands with the change)."""
    key = events_key(job_id)
    pipe.xadd(key, {"kind": kind, "data": json.dumps(data)}, maxlen=MAX_EVENTS, approximate=True)
    pipe.expire(key, KEEP_S)


def read_events(client: Any, job_id: str, after: str, block_ms: int | None) -> list[Event]:
    """Events after the id ``after`` ('0': from the first); waits up to ``block_ms`` for one."""
    answer = client.xread({events_key(job_id): after}, count=500, block=block_ms)
    if not answer:
        return []
    _, entries = answer[0]
    return [Event(id, fields["kind"], json.loads(fields["data"])) for id, fields in entries]


def valid_event_id(value: str) -> bool:
    return bool(EVENT_ID.match(value))
