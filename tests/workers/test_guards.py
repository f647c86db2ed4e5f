"""Why a running job stops, against a real Redis: cancel, shutdown, time limit, a lost lock."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.workers.conftest import settings_for
from workers.guards import LockKeeper, StopCheck, time_limit_s
from workers.spec import JobSpec
from workers.store import JobStore


def _check(store: JobStore, tmp_path: Path, spec: JobSpec, **overrides: object) -> StopCheck:
    job = store.create(spec)
    return StopCheck(
        store, job, spec, settings_for(tmp_path, **overrides), threading.Event(), threading.Event()
    )


def test_the_time_limit_is_the_spec_s_then_the_default_never_past_the_longest(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path, default_time_limit_s=600, longest_job_s=3600)
    assert time_limit_s(JobSpec(model="mnist-gan"), settings) == 600
    spec = JobSpec(model="mnist-gan", training={"time_limit_s": 1200})
    assert time_limit_s(spec, settings) == 1200
    spec = JobSpec(model="mnist-gan", training={"time_limit_s": 7200})
    assert time_limit_s(spec, settings) == 3600


def test_each_reason_to_stop(store: JobStore, tmp_path: Path) -> None:
    spec = JobSpec(model="mnist-gan")
    check = _check(store, tmp_path, spec)
    assert not check() and check.reason is None
    store.cancel(check.job_id)
    time.sleep(StopCheck.CANCEL_POLL_S)
    assert check() and check.reason == "cancelled"

    check = _check(store, tmp_path, spec)
    check.stopping.set()
    assert check() and check.reason == "shutdown"

    check = _check(store, tmp_path, spec)
    check.lost.set()
    assert check() and check.reason == "lost"


def test_the_time_limit_counts_earlier_attempts(store: JobStore, tmp_path: Path) -> None:
    spec = JobSpec(model="mnist-gan", training={"time_limit_s": 60})
    job = store.create(spec)
    store.transition(job.id, "running")
    store.update(job.id, progress={"run_s": 59.9})
    check = StopCheck(
        store, store.get(job.id), spec, settings_for(tmp_path), threading.Event(), threading.Event()
    )
    assert check.run_s() >= 59.9
    time.sleep(0.15)
    assert check() and check.reason == "time_limit"


def test_a_keeper_that_finds_its_lease_gone_says_so(store: JobStore) -> None:
    job = store.create(JobSpec(model="mnist-gan"))
    assert store.acquire_lock(job.id, "me", 0.4)
    keeper = LockKeeper(store, job.id, "me", 0.4)
    keeper.start()
    time.sleep(0.3)
    assert not keeper.lost.is_set()  # renewed every quarter of the lease
    store.release_lock(job.id, "me")  # as when a reaper took it after a long pause
    assert keeper.lost.wait(1.0)
    keeper.stop()


@pytest.mark.parametrize("batch_size", [2, 64])
def test_book_mode_with_a_batch_is_refused_at_once(batch_size: int) -> None:
    with pytest.raises(ValueError, match="one sample at a time"):
        JobSpec(model="mnist-gan", training={"mode": "book", "batch_size": batch_size})
