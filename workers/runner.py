"""A training job from its queued record to a served model: the logic behind the Celery task.

``run_training_job`` is a plain function: it holds the job's lock (its heartbeat, renewed in the
background), feeds throttled progress into the record, and on success builds the archive and
registers it in TorchServe (retrying while TorchServe is down, without training again). It stops
at the next step, with a checkpoint, when the job is cancelled, when its time limit is up, when
the worker is stopping (the job goes back to the queue for the next worker) or when the lock was
lost to a reaper. Failures are recorded as an error code and a message a user can act on.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError

from workers.engine.checkpoint import CheckpointError
from workers.engine.datasets import DataError
from workers.engine.pipeline import JobOutcome, run_job
from workers.engine.plan import PlanError
from workers.engine.preflight import PreflightError
from workers.engine.runtime import RuntimeChoiceError
from workers.failures import HandBack, JobFailure
from workers.guards import LockKeeper, StopCheck, ThrottledProgress
from workers.logs import log_context
from workers.metrics import QUEUE_WAIT, TRAINING
from workers.publish import export, model_meta, serve
from workers.settings import WorkerSettings
from workers.spec import JobSpec, field_errors
from workers.store import InvalidTransition, Job, JobStore

logger = logging.getLogger(__name__)


def run_training_job(
    job_id: str,
    store: JobStore,
    settings: WorkerSettings,
    worker: str,
    requeue: Callable[[str], None],
    stopping: threading.Event | None = None,
) -> str:
    """Run one job; returns what happened: a final state, 'requeued', 'lost', 'skipped' or 'busy'.

    ``requeue`` sends the job's id to the queue again; ``stopping`` is set when the worker was
    asked to stop (SIGTERM).
    """
    job = store.get(job_id)
    with log_context(job_id=job_id, request_id=job.request_id):
        outcome = _run(job, store, settings, worker, requeue, stopping or threading.Event())
        logger.info("job %s: %s", job_id, outcome)
        return outcome


def _run(
    job: Job,
    store: JobStore,
    settings: WorkerSettings,
    worker: str,
    requeue: Callable[[str], None],
    stopping: threading.Event,
) -> str:
    job_id = job.id
    if job.finished:
        return "skipped"  # delivered again after it finished: nothing to do
    if not store.acquire_lock(job_id, worker, settings.heartbeat_s):
        return "busy"  # another worker holds it; its lease expires if that worker died
    keeper = LockKeeper(store, job_id, worker, settings.heartbeat_s)
    try:
        if store.cancel_requested(job_id):
            store.transition(job_id, "cancelled")
            return "cancelled"
        spec = _validated(job.spec, settings.data_root)
        store.transition(job_id, "running", attempts=job.attempts + 1)
        logger.info("job %s: training %s, attempt %d", job_id, spec.model, job.attempts + 1)
        if job.attempts == 0:
            QUEUE_WAIT.observe(max(0.0, time.time() - job.created_at))
        keeper.start()
        stop = StopCheck(store, job, spec, settings, stopping, keeper.lost)
        with TRAINING.time():
            outcome = _train(job_id, spec, store, settings, stop, job.attempts + 1)
        if outcome.status == "stopped":
            return _stopped(store, job_id, stop, requeue)
        artifacts = outcome.artifacts | {"archive": str(export(job_id, outcome, settings))}
        served = serve(job_id, spec, outcome, settings, store, stopping)
        store.transition(
            job_id,
            "succeeded",
            metrics=outcome.metrics,
            artifacts=artifacts,
            served=served,
            model=model_meta(spec).model_dump(),
        )
        return "succeeded"
    except HandBack:
        return _hand_back(store, job_id, requeue)
    except JobFailure as failure:
        return _fail(store, job_id, failure.code, str(failure))
    except InvalidTransition as error:  # cancelled while we worked: leave it cancelled
        logger.info("job %s: %s", job_id, error)
        return store.get(job_id).state
    except Exception as error:  # the record must say something; the log keeps the traceback
        logger.exception("job %s failed", job_id)
        return _fail(store, job_id, *classify(error))
    finally:
        keeper.stop()
        store.release_lock(job_id, worker)
        release_memory()


def _validated(raw: dict[str, Any], data_root: Path) -> JobSpec:
    """Validate again (the record may be old or edited) and pin file datasets under the data root."""
    try:
        spec = JobSpec.model_validate(raw)
    except ValidationError as error:
        fields = "; ".join(f"{k}: {v}" for k, v in field_errors(error).items())
        raise JobFailure("invalid_spec", f"the job spec is invalid: {fields}") from None
    dataset = spec.resolved_dataset()
    pinned = {
        name: inside_data_root(value, data_root)
        for name, value in (("source", dataset.source), ("test_source", dataset.test_source))
        if value is not None
    }
    return spec.model_copy(update={"dataset": dataset.model_copy(update=pinned)})


FILE_SCHEMES = ("csv", "idx", "hdf5")  # dataset sources that name a file or folder


def inside_data_root(source: str, data_root: Path) -> str:
    """'csv:', 'idx:' or 'hdf5:<path>' with the path made absolute; relative paths start at the root.

    A path that leads outside the data root (absolute, '..', or a symlink) is refused.
    """
    scheme, _, location = source.partition(":")
    if scheme not in FILE_SCHEMES:
        return source
    root = data_root.resolve()
    resolved = (root / location).resolve()  # an absolute location replaces the root
    if resolved != root and root not in resolved.parents:
        raise JobFailure(
            "bad_dataset", f"dataset path {location} is outside the data root {data_root}"
        )
    return f"{scheme}:{resolved}"


def _train(
    job_id: str,
    spec: JobSpec,
    store: JobStore,
    settings: WorkerSettings,
    stop: StopCheck,
    attempt: int,
) -> JobOutcome:
    progress = ThrottledProgress(store, job_id, settings.progress_interval_s, stop.run_s, attempt)

    def live(step: int, paths: dict[str, str]) -> None:  # the new grid and plot: tell watchers
        at = time.time()
        store.update(job_id, ("samples", {"step": step, "at": at}), live=paths | {"step": step})

    outcome = run_job(
        spec,
        settings.job_dir(job_id),
        progress,
        stop,
        checkpoint_min_s=settings.checkpoint_min_s,
        on_live=live,
    )
    progress.flush()
    return outcome


def _stopped(store: JobStore, job_id: str, stop: StopCheck, requeue: Callable[[str], None]) -> str:
    """What a stop at a step means, by its reason; the checkpoint of that step is on disk."""
    if stop.reason == "lost":  # a reaper gave the job to another worker: it is theirs now
        logger.warning("job %s: lost its lock; left to the worker that has it", job_id)
        return "lost"
    if stop.reason == "shutdown":
        return _hand_back(store, job_id, requeue)
    if stop.reason == "time_limit":
        raise JobFailure(
            "time_limit",
            f"the job ran for its time limit of {stop.limit_s} s; its last checkpoint is kept "
            "in the job's folder (raise training.time_limit_s or train for fewer steps)",
        )
    store.transition(job_id, "cancelled")
    return "cancelled"


def _hand_back(store: JobStore, job_id: str, requeue: Callable[[str], None]) -> str:
    store.transition(job_id, "queued")
    requeue(job_id)
    logger.info("job %s: handed back to the queue", job_id)
    return "requeued"


def classify(error: Exception) -> tuple[str, str]:
    """An error code and a message a user can act on."""
    if isinstance(error, DataError):
        return "bad_dataset", str(error)
    if isinstance(error, PreflightError):
        return "preflight_failed", str(error)
    if isinstance(error, PlanError):
        return "limit_exceeded", str(error)
    if isinstance(error, CheckpointError):
        return "bad_checkpoint", str(error)
    if isinstance(error, RuntimeChoiceError):
        return "device_unavailable", str(error)
    if isinstance(error, torch.cuda.OutOfMemoryError | MemoryError):
        return "out_of_memory", "the GPU or host ran out of memory: use a smaller batch_size"
    return "internal_error", f"{type(error).__name__}: {error}"


def _fail(store: JobStore, job_id: str, code: str, message: str) -> str:
    try:
        store.transition(job_id, "failed", error={"code": code, "message": message})
    except InvalidTransition:
        return store.get(job_id).state
    return "failed"


def warm_up() -> None:
    """Load what every job needs (torch, plotting, the built-in digits) before the first job."""
    import matplotlib.pyplot  # noqa: F401

    from workers.engine.data import builtin_mnist_sample
    from workers.engine.runtime import configure_threads

    configure_threads()
    builtin_mnist_sample()


def release_memory() -> None:
    """Give GPU memory back after each job, so the next one starts clean."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
