"""The job store: one Redis hash per job, state changes that never go backwards, and locks.

Imports redis and the spec only (no torch), so the gateway can share it.

Keys (prefix ``gf:``): ``job:<id>`` (hash), ``jobs`` (sorted set, newest first by creation),
``jobs:<state>`` (one sorted set per state), ``job:<id>:cancel`` (flag), ``job:<id>:lock`` (lease).
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import redis

from workers.records import FINAL, STATES, Job, JobState, ModelMeta, ServedModel, decode, encode
from workers.spec import JobSpec

__all__ = ["FINAL", "STATES", "InvalidTransition", "Job", "JobNotFound", "JobStore"]

# from → allowed next states; "running" → "running" is a redelivered job taken up again
TRANSITIONS: dict[str, frozenset[str]] = {
    "queued": frozenset({"running", "failed", "cancelled"}),
    "running": frozenset({"running", "succeeded", "failed", "cancelled"}),
}
JOB_ID = re.compile(r"^[0-9a-f]{32}$")
PREFIX = "gf:"

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


class InvalidTransition(ValueError):
    """The job is already past this state (for example: finished, or cancelled)."""

    def __init__(self, job_id: str, current: str, wanted: str) -> None:
        super().__init__(f"job {job_id} is {current}; it cannot become {wanted}")
        self.current = current
        self.wanted = wanted


def valid_job_id(job_id: str) -> bool:
    return bool(JOB_ID.match(job_id))


class JobStore:
    """Job records in Redis. Every write that changes state is a checked transaction."""

    def __init__(self, client: redis.Redis) -> None:
        self.redis: Any = client  # decode_responses=True: str in, str out (the stubs say bytes)

    @classmethod
    def from_url(cls, url: str, timeout_s: float = 5.0) -> JobStore:
        client = redis.Redis.from_url(
            url, decode_responses=True, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
        )
        return cls(client)

    # ---- records ------------------------------------------------------------------------

    def create(self, spec: JobSpec) -> Job:
        now = time.time()
        job = Job(
            id=uuid.uuid4().hex,
            spec=spec.model_dump(mode="json"),
            state="queued",
            created_at=now,
            updated_at=now,
        )
        score = time.time_ns()
        with self.redis.pipeline() as pipe:
            pipe.hset(self._key(job.id), mapping=encode(job.to_dict()))
            pipe.zadd(PREFIX + "jobs", {job.id: score})
            pipe.zadd(PREFIX + "jobs:queued", {job.id: score})
            pipe.execute()
        return job

    def get(self, job_id: str) -> Job:
        if not valid_job_id(job_id):
            raise JobNotFound(job_id)
        raw = self.redis.hgetall(self._key(job_id))
        if not raw:
            raise JobNotFound(job_id)
        return Job.model_validate(decode(raw))

    def list_jobs(
        self, offset: int = 0, limit: int = 20, state: str | None = None
    ) -> tuple[list[Job], int]:
        """Newest first; returns one page and the total count."""
        index = PREFIX + ("jobs" if state is None else f"jobs:{state}")
        total = int(self.redis.zcard(index))
        ids = self.redis.zrevrange(index, offset, offset + limit - 1)
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
            now = time.time()
            values = {"state": state, "updated_at": now, **fields}
            if state == "running" and current == "queued":
                values["started_at"] = now
            if state in FINAL:
                values["finished_at"] = now
            score = pipe.zscore(PREFIX + f"jobs:{current}", job_id) or time.time_ns()
            pipe.multi()
            pipe.hset(key, mapping=encode(values))
            pipe.zrem(PREFIX + f"jobs:{current}", job_id)
            pipe.zadd(PREFIX + f"jobs:{state}", {job_id: score})

        self.redis.transaction(change, key)
        return self.get(job_id)

    def update(self, job_id: str, **fields: Any) -> None:
        """Write fields that are not the state (progress, attempts) while the job is not final."""
        key = self._key(job_id)

        def write(pipe: Any) -> None:
            raw = pipe.hget(key, "state")
            if raw is None or decode({"state": raw})["state"] in FINAL:
                return  # a cancelled job's late progress is dropped
            pipe.multi()
            pipe.hset(key, mapping=encode({**fields, "updated_at": time.time()}))

        self.redis.transaction(write, key)

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

    # ---- served models: what the gateway tells users about each name -------------------------

    def record_model(
        self, name: str, version: str, job_id: str, meta: ModelMeta | dict[str, Any]
    ) -> None:
        """Remember a registered version (the new default) and what its generator draws."""
        key = f"{PREFIX}model:{name}"
        checked = ModelMeta.model_validate(meta).model_dump(mode="json")
        record = {"name": name, "default_version": version, **checked}
        with self.redis.pipeline() as pipe:
            pipe.hset(key, mapping=encode(record))
            pipe.hset(key + ":versions", mapping=encode({version: job_id}))
            pipe.zadd(PREFIX + "models", {name: time.time()})
            pipe.execute()

    def get_model(self, name: str) -> dict[str, Any] | None:
        key = f"{PREFIX}model:{name}"
        raw = self.redis.hgetall(key)
        if not raw:
            return None
        versions = decode(self.redis.hgetall(key + ":versions"))
        ordered = dict(sorted(versions.items(), key=lambda item: _version_key(item[0])))
        return ServedModel.model_validate(decode(raw) | {"versions": ordered}).model_dump()

    def list_models(self) -> list[dict[str, Any]]:
        """Every served name, most recently trained first."""
        names = self.redis.zrevrange(PREFIX + "models", 0, -1)
        return [model for name in names if (model := self.get_model(name)) is not None]

    def ping(self) -> bool:
        try:
            return bool(self.redis.ping())
        except redis.RedisError:
            return False

    @staticmethod
    def _key(job_id: str) -> str:
        return f"{PREFIX}job:{job_id}"

    def _lock(self, job_id: str) -> str:
        return self._key(job_id) + ":lock"


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else 0 for part in version.split("."))
