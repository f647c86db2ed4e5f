"""What watches a running job: its progress writes, its reasons to stop, its heartbeat (lock)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict

from workers.engine.trainer import Progress
from workers.metrics import STEPS
from workers.settings import WorkerSettings
from workers.spec import JobSpec
from workers.store import Job, JobStore

logger = logging.getLogger(__name__)


class ThrottledProgress:
    """The engine's progress callback, written to the record at most once per interval."""

    def __init__(
        self,
        store: JobStore,
        job_id: str,
        interval_s: float,
        run_s: Callable[[], float],
        attempt: int,
    ) -> None:
        self.store, self.job_id, self.interval_s, self.run_s = store, job_id, interval_s, run_s
        self.attempt = attempt  # 1 for the first worker to run the job, 2 for the next...
        self.last_write = 0.0
        self.pending: Progress | None = None
        self.last_step: int | None = None
        self.times: dict[str, float] = {}  # first_step_at and last_step_at, epoch seconds

    def __call__(self, progress: Progress) -> None:
        # steps since the last call (one on the first: a resumed job starts past step 0)
        STEPS.inc(1 if self.last_step is None else max(0, progress.step - self.last_step))
        self.last_step, self.pending = progress.step, progress
        self.times.setdefault("first_step_at", time.time())
        last = progress.step == progress.total_steps
        if last:
            self.times["last_step_at"] = time.time()
        if last or time.monotonic() - self.last_write >= self.interval_s:
            self.flush()

    def flush(self) -> None:
        if self.pending is None:
            return
        values = asdict(self.pending) | self.times
        values |= {"run_s": round(self.run_s(), 3), "attempt": self.attempt}
        values["eta_s"] = None if values["eta_s"] == float("inf") else values["eta_s"]
        self.store.update(self.job_id, ("progress", values), progress=values)
        self.last_write, self.pending = time.monotonic(), None


class StopCheck:
    """The engine's stop callback: says why the job should stop at this step, if it should.

    Reasons: 'cancelled' (the flag, read at most every ``CANCEL_POLL_S``), 'shutdown' (the worker
    is stopping), 'time_limit' (running seconds, summed over the job's attempts, past its limit)
    and 'lost' (the lock went to another worker).
    """

    CANCEL_POLL_S = 0.2

    def __init__(
        self,
        store: JobStore,
        job: Job,
        spec: JobSpec,
        settings: WorkerSettings,
        stopping: threading.Event,
        lost: threading.Event,
    ) -> None:
        self.store, self.job_id, self.stopping, self.lost = store, job.id, stopping, lost
        self.limit_s = time_limit_s(spec, settings)
        self.before_s = float((job.progress or {}).get("run_s", 0.0))  # earlier attempts
        self.started = time.monotonic()
        self.last_poll = 0.0
        self.reason: str | None = None

    def run_s(self) -> float:
        """Seconds this job has run, this attempt and the earlier ones."""
        return self.before_s + time.monotonic() - self.started

    def __call__(self) -> bool:
        if self.reason is None:
            self.reason = self._why()
        return self.reason is not None

    def _why(self) -> str | None:
        if self.lost.is_set():
            return "lost"
        if self.stopping.is_set():
            return "shutdown"
        if self.run_s() > self.limit_s:
            return "time_limit"
        now = time.monotonic()
        if now - self.last_poll >= self.CANCEL_POLL_S:
            self.last_poll = now
            if self.store.cancel_requested(self.job_id):
                return "cancelled"
        return None


def time_limit_s(spec: JobSpec, settings: WorkerSettings) -> int:
    """The job's own limit, else the default; never past the longest job."""
    return min(spec.training.time_limit_s or settings.default_time_limit_s, settings.longest_job_s)


class LockKeeper:
    """Renews the job's lock lease in the background while the job runs."""

    def __init__(self, store: JobStore, job_id: str, owner: str, lease_s: float) -> None:
        self.store, self.job_id, self.owner, self.lease_s = store, job_id, owner, lease_s
        self.stopped = threading.Event()
        self.lost = threading.Event()  # set when the lease was gone at a renewal
        self.thread = threading.Thread(target=self._run, name=f"lock-{job_id[:8]}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()
        if self.thread.is_alive():
            self.thread.join(timeout=5)

    def _run(self) -> None:
        while not self.stopped.wait(self.lease_s / 4):
            try:
                if not self.store.renew_lock(self.job_id, self.owner, self.lease_s):
                    logger.warning("job %s: lost its lock", self.job_id)
                    self.lost.set()
                    return
            except Exception:  # Redis briefly away: try again at the next tick
                logger.warning("job %s: lock renewal failed", self.job_id, exc_info=True)
