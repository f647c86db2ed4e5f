"""The reaper: a thread in every worker that hands a dead worker's job to the next worker.

A running job holds a lock whose lease its worker renews every quarter of ``heartbeat_s``; a
worker that dies (SIGKILL, OOM, power) stops renewing. Every ``reap_interval_s`` each worker's
reaper looks for running jobs whose lease lapsed and takes each back to the queue in one checked
Redis transaction, so with any number of workers exactly one reaper requeues a job (the others'
transactions see it queued and do nothing). The next worker resumes it from its last checkpoint.
Celery's late acknowledgement stays the second net: the dead worker's message comes back after
the broker's visibility timeout and finds the job finished or running elsewhere.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from workers.periodic import Periodic
from workers.records import JobState
from workers.store import JobStore

logger = logging.getLogger(__name__)


def reap(store: JobStore, requeue: Callable[[str], None], max_losses: int) -> dict[str, JobState]:
    """One pass: every running job without a lease, back in the queue (or failed); returns them."""
    reclaimed: dict[str, JobState] = {}
    for job_id in store.running_without_lock():
        state = store.reclaim(job_id, max_losses)
        if state is None:
            continue  # another reaper, or the job's worker, was first
        if state == "queued":
            requeue(job_id)
        logger.warning("job %s: its worker stopped renewing its lease; now %s", job_id, state)
        reclaimed[job_id] = state
    return reclaimed


class Reaper(Periodic):
    """``reap`` every ``interval_s`` in a daemon thread, from the worker's start to its end."""

    def __init__(
        self,
        store: JobStore,
        requeue: Callable[[str], None],
        max_losses: int,
        interval_s: float,
    ) -> None:
        self.store, self.requeue, self.max_losses = store, requeue, max_losses
        super().__init__("reaper", self._pass, interval_s)

    def _pass(self) -> None:
        reap(self.store, self.requeue, self.max_losses)
