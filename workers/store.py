"""The job store: one Redis hash per job, state changes that never go backwards, and locks.

Imports redis and the spec only (no torch), so the gateway can share it.

Keys (prefix ``gf:``): ``job:<id>`` (hash), ``jobs`` (sorted set, newest first by creation),
``jobs:<state>`` (one sorted set per state), ``job:<id>:cancel`` (flag), ``job:<id>:lock`` (the
running job's lease, its heartbeat), ``owner:<fingerprint>:active`` (an API key's queued and
running jobs), ``job:<id>:events`` (its event stream, see ``workers.events``: every change of
state is written there in the same transaction).
"""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from workers.catalog import PREFIX, ModelCatalog
from workers.events import add_event
from workers.records import FINAL, STATES, Job, JobState, decode, encode
from workers.spec import JobSpec

__all__ = ["FINAL", "STATES", "InvalidTransition", "Job", "JobNotFound", "JobStore"]

# from → allowed next states; "running" → "running" is a redelivered job taken up again,
# "running" → "queued" a job handed back by a stopping worker or taken from a dead one
TRANSITIONS: dict[str, frozenset[str]] = {
    "queued": frozenset({"running", "failed", "cancelled"}),
    "running": frozenset({"queued", "running", "succeeded", "failed", "cancelled"}),
}
JOB_ID = re.compile(r"^[0-9a-f]{32}$")
OUTAGE_BACKOFF_S = 1.0  # the longest wait between two tries while Redis is away

RELEASE_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
RENEW_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


class JobNotFound(KeyError):
    """No job has this id."""


class TooManyJobs(Exception):
    """The API key already has its limit of queued and running jobs."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"this API key already has {limit} jobs queued or running")
        self.limit = limit


class InvalidTransition(ValueError):
    """The job is already past this state (for example: finished, or cancelled)."""

    def __init__(self, job_id: str, current: str, wanted: str) -> None:
        super().__init__(f"job {job_id} is {current}; it cannot become {wanted}")
        self.current = current
        self.wanted = wanted


def valid_job_id(job_id: str) -> bool:
    return bool(JOB_ID.match(job_id))


class JobStore(ModelCatalog):
    """Job records in Redis. Every write that changes state is a checked transaction."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client  # decode_responses=True: str in, str out (the stubs say bytes)

    @classmethod
    def from_url(cls, url: str, timeout_s: float = 5.0, outage_s: float = 0.0) -> JobStore:
        """A store on ``url``; with ``outage_s``, calls ride out a Redis restart that long."""
        # 0.05, 0.1, ... 0.8 s, then a try every OUTAGE_BACKOFF_S until outage_s has passed
        retries = 5 + math.ceil(outage_s / OUTAGE_BACKOFF_S) if outage_s > 0 else 0
        client = redis.Redis.from_url(
            url,
            decode_responses=True,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(ExponentialBackoff(cap=OUTAGE_BACKOFF_S, base=0.05), retries),
            retry_on_error=[redis.ConnectionError, redis.TimeoutError] if retries else [],
        )
        return cls(client)

    # ---- records ------------------------------------------------------------------------

    def create(
        self,
        spec: JobSpec,
        owner: str | None = None,
        max_active: int | None = None,
        **details: str | None,
    ) -> Job:
        """Record a queued job; with an owner and ``max_active``, refuse (TooManyJobs) past it.
        ``details``: more of the record (``serve_as_owner``, ``request_id``)."""
        now = time.time()
        job = Job(
            id=uuid.uuid4().hex,
            spec=spec.model_dump(mode="json"),
            state="queued",
            created_at=now,
            updated_at=now,
            owner=owner,
            **details,
        )
        score = time.time_ns()
        active = self._active(owner)

        def add(pipe: Any) -> None:
            if active and max_active is not None and pipe.zcard(active) >= max_active:
                raise TooManyJobs(max_active)
            pipe.multi()
            pipe.hset(self._key(job.id), mapping=encode(job.to_dict()))
            pipe.zadd(PREFIX + "jobs", {job.id: score})
            pipe.zadd(PREFIX + "jobs:queued", {job.id: score})
            if active:
                pipe.zadd(active, {job.id: score})
            if owner:
                pipe.zadd(self._owned(owner), {job.id: score})
            add_event(pipe, job.id, "state", {"state": "queued", "at": now})

        self.redis.transaction(add, *([active] if active else []))
        return job

    def get(self, job_id: str) -> Job:
        if not valid_job_id(job_id):
            raise JobNotFound(job_id)
        raw = self.redis.hgetall(self._key(job_id))
        if not raw:
            raise JobNotFound(job_id)
        return Job.model_validate(decode(raw))

    def list_jobs(
        self, offset: int = 0, limit: int = 20, state: str | None = None, owner: str | None = None
    ) -> tuple[list[Job], int]:
        """Newest first (only ``owner``'s, with one); returns one page and the total count."""
        index = PREFIX + ("jobs" if state is None else f"jobs:{state}")
        if owner is None:
            total = int(self.redis.zcard(index))
            ids = self.redis.zrevrange(index, offset, offset + limit - 1)
        else:  # one key's jobs: its own index, filtered by state (a key has few)
            ids = self.redis.zrevrange(self._owned(owner), 0, -1)
            if state is not None:
                with self.redis.pipeline() as pipe:
                    for job_id in ids:
                        pipe.zscore(index, job_id)
                    scores = pipe.execute()
                ids = [job_id for job_id, score in zip(ids, scores, strict=True) if score]
            total, ids = len(ids), ids[offset : offset + limit]
        with self.redis.pipeline() as pipe:
            for job_id in ids:
                pipe.hgetall(self._key(job_id))
            rows = pipe.execute()
        return [Job.model_validate(decode(row)) for row in rows if row], total

    def transition(self, job_id: str, state: JobState, **fields: Any) -> Job:
        """Move a job to ``state`` (checked against TRANSITIONS) and write ``fields`` with it."""
        key = self._key(job_id)

        def change(pipe: Any) -> None:
            raw = pipe.hget(key, "state")
            if raw is None:
                raise JobNotFound(job_id)
            current = decode({"state": raw})["state"]
            if state not in TRANSITIONS.get(current, frozenset()):
                raise InvalidTransition(job_id, current, state)
            self._apply(pipe, job_id, current, state, fields)

        self.redis.transaction(change, key)
        return self.get(job_id)

    def _apply(
        self, pipe: Any, job_id: str, current: str, state: JobState, fields: dict[str, Any]
    ) -> JobState:
        """Inside a WATCH: read what the change needs, then queue the writes (MULTI)."""
        key = self._key(job_id)
        now = time.time()
        values = {"state": state, "updated_at": now, **fields}
        if state == "running" and json.loads(pipe.hget(key, "started_at") or "null") is None:
            values["started_at"] = now
        if state in FINAL:
            values["finished_at"] = now
        score = pipe.zscore(PREFIX + f"jobs:{current}", job_id) or time.time_ns()
        owner = pipe.hget(key, "owner")
        pipe.multi()
        pipe.hset(key, mapping=encode(values))
        pipe.zrem(PREFIX + f"jobs:{current}", job_id)
        pipe.zadd(PREFIX + f"jobs:{state}", {job_id: score})
        active = self._active(json.loads(owner) if owner else None)
        if state in FINAL and active:
            pipe.zrem(active, job_id)
        event = {"state": state, "at": now} | {k: fields[k] for k in ("error",) if k in fields}
        add_event(pipe, job_id, "end" if state in FINAL else "state", event)
        return state

    def update(
        self, job_id: str, event: tuple[str, dict[str, Any]] | None = None, **fields: Any
    ) -> None:
        """Write fields that are not the state (progress, attempts) while the job is not final;
        ``event`` (kind, data) goes to the job's events with them."""
        key = self._key(job_id)

        def write(pipe: Any) -> None:
            raw = pipe.hget(key, "state")
            if raw is None or decode({"state": raw})["state"] in FINAL:
                return  # a cancelled job's late progress is dropped
            pipe.multi()
            pipe.hset(key, mapping=encode({**fields, "updated_at": time.time()}))
            if event is not None:
                add_event(pipe, job_id, *event)

        self.redis.transaction(write, key)

    def jobs_serving_as(self, name: str) -> list[str]:
        """Queued and running jobs that will serve their generator as ``name``."""
        ids = [
            job_id
            for state in ("queued", "running")
            for job_id in self.redis.zrange(PREFIX + f"jobs:{state}", 0, -1)
        ]
        if not ids:
            return []
        with self.redis.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hget(self._key(job_id), "spec")
            specs = pipe.execute()
        return [
            job_id
            for job_id, spec in zip(ids, specs, strict=True)
            if spec and json.loads(spec).get("serve_as") == name
        ]

    # ---- cancellation ---------------------------------------------------------------------

    def cancel(self, job_id: str) -> Job:
        """Set the cancel flag; a queued job is cancelled at once, a running one at its next step."""
        job = self.get(job_id)
        if job.finished:
            raise InvalidTransition(job_id, job.state, "cancelled")
        self.redis.set(self._key(job_id) + ":cancel", "1", ex=7 * 24 * 3600)
        if job.state == "queued":
            try:
                return self.transition(job_id, "cancelled")
            except InvalidTransition:
                pass  # a worker took it meanwhile: it will see the flag
        return self.get(job_id)

    def cancel_requested(self, job_id: str) -> bool:
        return bool(self.redis.exists(self._key(job_id) + ":cancel"))

    # ---- locks: a job runs on one worker at a time -----------------------------------------

    def acquire_lock(self, job_id: str, owner: str, lease_s: float) -> bool:
        return bool(self.redis.set(self._lock(job_id), owner, nx=True, px=int(lease_s * 1000)))

    def renew_lock(self, job_id: str, owner: str, lease_s: float) -> bool:
        return bool(self.redis.eval(RENEW_LOCK, 1, self._lock(job_id), owner, int(lease_s * 1000)))

    def release_lock(self, job_id: str, owner: str) -> None:
        self.redis.eval(RELEASE_LOCK, 1, self._lock(job_id), owner)

    def running_without_lock(self) -> list[str]:
        """Running jobs whose lease lapsed: their worker died (or lost Redis for a whole lease)."""
        running = self.redis.zrange(PREFIX + "jobs:running", 0, -1)
        with self.redis.pipeline(transaction=False) as pipe:
            for job_id in running:
                pipe.exists(self._lock(job_id))
            held = pipe.execute()
        return [job_id for job_id, lock in zip(running, held, strict=True) if not lock]

    def reclaim(self, job_id: str, max_losses: int) -> JobState | None:
        """Take a running job whose lease lapsed back to the queue, in one checked transaction.

        A death with no new checkpoint since the one before is a strike; at ``max_losses``
        strikes the job fails instead. Returns the new state, or None when another reaper (or
        the job's own worker, back from a pause) got there first.
        """
        key, lock = self._key(job_id), self._lock(job_id)

        def take(pipe: Any) -> JobState | None:
            raw = pipe.hmget(key, ["state", "progress", "losses"])
            if raw[0] is None or pipe.exists(lock):
                return None
            state, progress, losses = (json.loads(value or "null") for value in raw)
            if state != "running":
                return None
            checkpoint = int((progress or {}).get("checkpoint_step", 0))
            losses = losses or {}
            repeat = checkpoint <= losses.get("checkpoint_step", -1)
            strikes = losses.get("strikes", 0) + 1 if repeat else 1
            record = {
                "count": losses.get("count", 0) + 1,
                "strikes": strikes,
                "checkpoint_step": checkpoint,
                "at": time.time(),
            }
            if strikes < max_losses:
                return self._apply(pipe, job_id, state, "queued", {"losses": record})
            error = {
                "code": "worker_lost",
                "message": f"the worker running this job died {strikes} times in a row without "
                f"a new checkpoint (the last at step {checkpoint}); it is not tried again",
            }
            return self._apply(pipe, job_id, state, "failed", {"losses": record, "error": error})

        result: JobState | None = self.redis.transaction(take, key, lock, value_from_callable=True)
        return result

    def ping(self) -> bool:
        try:
            return bool(self.redis.ping())
        except redis.RedisError:
            return False

    @staticmethod
    def _key(job_id: str) -> str:
        return f"{PREFIX}job:{job_id}"

    @staticmethod
    def _active(owner: str | None) -> str | None:
        return None if owner is None else f"{PREFIX}owner:{owner}:active"

    @staticmethod
    def _owned(owner: str) -> str:
        return f"{PREFIX}owner:{owner}:jobs"

    def _lock(self, job_id: str) -> str:
        return self._key(job_id) + ":lock"
