"""The job store against a real redis-server of the tests' own."""

from __future__ import annotations

import pytest

from workers.records import ModelMeta
from workers.spec import JobSpec
from workers.store import InvalidTransition, JobNotFound, JobStore, TooManyJobs

SPEC = JobSpec(model="mnist-cgan", serve_as="digits")


def test_create_and_read_back(store: JobStore) -> None:
    job = store.create(SPEC)
    again = store.get(job.id)
    assert again.state == "queued" and again.spec["serve_as"] == "digits"
    assert again.created_at == pytest.approx(job.created_at)
    assert again.progress is None and again.error is None


def test_listing_is_newest_first_paged_and_filtered(store: JobStore) -> None:
    ids = [store.create(SPEC).id for _ in range(5)]
    page, total = store.list_jobs(offset=0, limit=2)
    assert total >= 5 and [j.id for j in page] == ids[::-1][:2]
    page, _ = store.list_jobs(offset=2, limit=2)
    assert [j.id for j in page] == ids[::-1][2:4]
    store.transition(ids[0], "running")
    running, count = store.list_jobs(state="running")
    assert ids[0] in [j.id for j in running] and count >= 1
    queued, _ = store.list_jobs(state="queued", limit=100)
    assert ids[0] not in [j.id for j in queued]


def test_states_never_go_backwards(store: JobStore) -> None:
    job = store.create(SPEC)
    running = store.transition(job.id, "running", attempts=1)
    assert running.started_at is not None and running.attempts == 1
    assert store.transition(job.id, "running").state == "running"  # taken up again after a crash
    done = store.transition(job.id, "succeeded", metrics={"x": 1})
    assert done.finished_at is not None and done.metrics == {"x": 1}
    for later in ("running", "queued", "failed", "cancelled"):
        with pytest.raises(InvalidTransition):
            store.transition(job.id, later)


def test_cancelled_is_final_and_late_progress_is_dropped(store: JobStore) -> None:
    job = store.create(SPEC)
    store.transition(job.id, "running")
    store.transition(job.id, "cancelled")
    store.update(job.id, progress={"step": 5})
    assert store.get(job.id).progress is None
    with pytest.raises(InvalidTransition):
        store.transition(job.id, "running")


def test_cancelling_a_queued_job_is_immediate(store: JobStore) -> None:
    job = store.create(SPEC)
    assert store.cancel(job.id).state == "cancelled"
    assert store.cancel_requested(job.id)
    with pytest.raises(InvalidTransition):
        store.cancel(job.id)


def test_locks_have_one_owner_and_a_lease(store: JobStore) -> None:
    job = store.create(SPEC)
    assert store.acquire_lock(job.id, "a", 5)
    assert not store.acquire_lock(job.id, "b", 5)
    assert store.renew_lock(job.id, "a", 5) and not store.renew_lock(job.id, "b", 5)
    store.release_lock(job.id, "b")  # not the owner: no effect
    assert not store.acquire_lock(job.id, "b", 5)
    store.release_lock(job.id, "a")
    assert store.acquire_lock(job.id, "b", 0.05)


@pytest.mark.parametrize("job_id", ["nope", "../etc/passwd", "0" * 31, "A" * 32, "*", ""])
def test_bad_ids_are_not_found(store: JobStore, job_id: str) -> None:
    with pytest.raises(JobNotFound):
        store.get(job_id)


def test_served_models_remember_versions_and_what_they_draw(store: JobStore) -> None:
    meta = ModelMeta(
        family="mnist-cgan",
        num_classes=10,
        class_names=list("0123456789"),
        latent_size=100,
        output_shape=[1, 28, 28],
    )
    store.record_model("digits-store", "1", "a" * 32, meta)
    store.record_model("digits-store", "2", "b" * 32, meta)
    model = store.get_model("digits-store")
    assert model is not None and model["default_version"] == "2"
    assert model["versions"] == {"1": "a" * 32, "2": "b" * 32} and model["num_classes"] == 10
    assert store.list_models()[0]["name"] == "digits-store"
    assert store.get_model("no-such-model") is None


def _running_at(store: JobStore, checkpoint_step: int, job_id: str | None = None) -> str:
    job_id = job_id or store.create(SPEC).id
    store.transition(job_id, "running", attempts=1)
    store.update(job_id, progress={"step": checkpoint_step + 7, "checkpoint_step": checkpoint_step})
    return job_id


def test_a_running_job_without_its_lease_is_reclaimed_once(store: JobStore) -> None:
    held, lapsed = _running_at(store, 100), _running_at(store, 100)
    store.acquire_lock(held, "alive", 30)
    orphans = store.running_without_lock()
    assert lapsed in orphans and held not in orphans
    assert store.reclaim(lapsed, max_losses=3) == "queued"
    assert store.reclaim(lapsed, max_losses=3) is None  # a second reaper finds nothing to do
    assert store.reclaim(held, max_losses=3) is None  # its worker is alive
    job = store.get(lapsed)
    assert job.state == "queued" and job.started_at is not None
    assert job.losses is not None and job.losses["count"] == 1 and job.losses["strikes"] == 1
    again = store.transition(lapsed, "running", attempts=2)
    assert again.started_at == job.started_at  # a resumed job keeps when it first started


def test_deaths_without_a_new_checkpoint_fail_the_job_at_the_limit(store: JobStore) -> None:
    job_id = _running_at(store, 100)
    assert store.reclaim(job_id, max_losses=3) == "queued"
    _running_at(store, 200, job_id)  # a new checkpoint since: strikes start again
    assert store.reclaim(job_id, max_losses=3) == "queued"
    assert store.get(job_id).losses["strikes"] == 1  # type: ignore[index]
    _running_at(store, 200, job_id)
    assert store.reclaim(job_id, max_losses=3) == "queued"
    _running_at(store, 200, job_id)
    assert store.reclaim(job_id, max_losses=3) == "failed"
    job = store.get(job_id)
    assert job.error is not None and job.error["code"] == "worker_lost"
    assert "3 times" in job.error["message"] and job.losses["count"] == 4  # type: ignore[index]


def test_an_owner_may_have_so_many_jobs_queued_or_running(store: JobStore) -> None:
    owner = "f" * 16
    first = store.create(SPEC, owner=owner, max_active=2)
    store.create(SPEC, owner=owner, max_active=2)
    with pytest.raises(TooManyJobs, match="2 jobs"):
        store.create(SPEC, owner=owner, max_active=2)
    store.create(SPEC, owner="e" * 16, max_active=2)  # another key has its own count
    store.transition(first.id, "running")
    with pytest.raises(TooManyJobs):  # running counts too
        store.create(SPEC, owner=owner, max_active=2)
    store.transition(first.id, "succeeded")
    assert store.create(SPEC, owner=owner, max_active=2).owner == owner
