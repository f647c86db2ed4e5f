"""The reaper against a real Redis: a lapsed lease sends the job to the queue exactly once."""

from __future__ import annotations

import time

from workers.reaper import Reaper, reap
from workers.spec import JobSpec
from workers.store import JobStore

SPEC = JobSpec(model="mnist-gan")


def test_reap_requeues_the_orphans_and_leaves_the_living(store: JobStore) -> None:
    orphan, alive = store.create(SPEC).id, store.create(SPEC).id
    for job_id in (orphan, alive):
        store.transition(job_id, "running", attempts=1)
    store.acquire_lock(alive, "worker-a", 30)
    sent: list[str] = []
    reclaimed = reap(store, sent.append, max_losses=3)  # (other tests' orphans may be there too)
    assert reclaimed[orphan] == "queued" and alive not in reclaimed and sent.count(orphan) == 1
    assert orphan not in reap(store, sent.append, max_losses=3) and sent.count(orphan) == 1


def test_two_reapers_requeue_a_job_once(store: JobStore) -> None:
    job_id = store.create(SPEC).id
    store.transition(job_id, "running", attempts=1)
    store.acquire_lock(job_id, "worker-a", 0.2)  # a lease that lapses: its worker died
    sent: list[str] = []
    reapers = [Reaper(store, sent.append, 3, interval_s=0.05) for _ in range(2)]
    for reaper in reapers:
        reaper.start()
    time.sleep(0.8)
    for reaper in reapers:
        reaper.stop()
    assert sent.count(job_id) == 1 and store.get(job_id).state == "queued"
