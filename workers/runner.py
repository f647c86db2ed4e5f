"""A training job from its queued record to a served model: the logic behind the Celery task.

``run_training_job`` is a plain function: it holds the job's lock (renewed in the background),
feeds throttled progress into the record, stops when the cancel flag is set, and on success
builds the archive and registers it in TorchServe (retrying while TorchServe is down, without
training again). Failures are recorded as an error code and a message a user can act on.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import torch
from pydantic import ValidationError
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from model_archive.builder import ArchiveError, build_archive
from model_archive.client import TorchServeClient, TorchServeError, TorchServeUnavailable
from workers.engine.checkpoint import CheckpointError
from workers.engine.datasets import DataError
from workers.engine.families import get_family
from workers.engine.pipeline import JobOutcome, run_job
from workers.engine.preflight import PreflightError
from workers.engine.runtime import RuntimeChoiceError
from workers.engine.trainer import Progress
from workers.records import ModelMeta
from workers.settings import WorkerSettings
from workers.spec import JobSpec, field_errors
from workers.store import InvalidTransition, JobStore

logger = logging.getLogger(__name__)
T = TypeVar("T")


class JobFailure(Exception):
    """A failure with a code and a message for the user."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def run_training_job(job_id: str, store: JobStore, settings: WorkerSettings, worker: str) -> str:
    """Run one job; returns what happened: a final state, 'skipped' or 'busy'."""
    job = store.get(job_id)
    if job.finished:
        return "skipped"  # delivered again after it finished: nothing to do
    if not store.acquire_lock(job_id, worker, settings.lock_lease_s):
        return "busy"  # another worker holds it; its lease expires if that worker died
    keeper = LockKeeper(store, job_id, worker, settings.lock_lease_s)
    try:
        if store.cancel_requested(job_id):
            store.transition(job_id, "cancelled")
            return "cancelled"
        spec = _validated(job.spec, settings.data_root)
        store.transition(job_id, "running", attempts=job.attempts + 1)
        keeper.start()
        outcome = _train(job_id, spec, store, settings)
        if outcome.status == "stopped":
            store.transition(job_id, "cancelled")
            return "cancelled"
        served = _serve(job_id, spec, outcome, settings, store)
        store.transition(
            job_id, "succeeded", metrics=outcome.metrics, artifacts=outcome.artifacts, served=served
        )
        return "succeeded"
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


def _train(job_id: str, spec: JobSpec, store: JobStore, settings: WorkerSettings) -> JobOutcome:
    progress = ThrottledProgress(store, job_id, settings.progress_interval_s)
    cancelled = CancelCheck(store, job_id, interval_s=0.2)
    outcome = run_job(spec, settings.job_dir(job_id), progress, cancelled)
    progress.flush()
    return outcome


def _serve(
    job_id: str, spec: JobSpec, outcome: JobOutcome, settings: WorkerSettings, store: JobStore
) -> dict[str, Any]:
    """Archive the generator and register it as the default version of its name."""
    name = spec.serve_as or f"job-{job_id[:12]}"
    client = TorchServeClient(settings.torchserve_inference_url, settings.torchserve_management_url)
    version = _retry(lambda: next_version(client, name), settings, store, job_id)
    try:
        mar = build_archive(
            Path(outcome.artifacts["generator"]), name, version, settings.model_store
        )
    except ArchiveError as error:
        raise JobFailure("archive_failed", str(error)) from None
    _retry(lambda: client.register(mar.name, name), settings, store, job_id)
    _retry(lambda: client.set_default(name, version), settings, store, job_id)
    store.record_model(name, version, job_id, model_meta(spec))
    return {"name": name, "version": version, "archive": str(mar)}


def model_meta(spec: JobSpec) -> ModelMeta:
    """What a client needs to ask a served generator for images."""
    family = get_family(spec.model)
    return ModelMeta(
        family=family.name,
        num_classes=family.num_classes,
        class_names=list(family.class_names),
        latent_size=family.z_dim,
        output_shape=list(family.sample_shape),
    )


def next_version(client: TorchServeClient, name: str) -> str:
    try:
        versions = [d["modelVersion"] for d in client.describe(name)]
    except TorchServeError as error:
        if error.status == 404 and not isinstance(error, TorchServeUnavailable):
            return "1"
        raise
    numbers = [int(float(v)) for v in versions if v.replace(".", "", 1).isdigit()]
    return str(max(numbers, default=0) + 1)


def _retry(call: Callable[[], T], settings: WorkerSettings, store: JobStore, job_id: str) -> T:
    """Retry while TorchServe is unavailable, backing off exponentially; training is not redone."""

    def waiting(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        reason = error.message if isinstance(error, TorchServeError) else str(error)
        progress = {
            "phase": "waiting for TorchServe",
            "attempt": state.attempt_number,
            "reason": reason,
        }
        store.update(job_id, progress=progress)

    retrying = Retrying(
        retry=retry_if_exception_type(TorchServeUnavailable),
        stop=stop_after_attempt(settings.register_attempts),
        wait=wait_exponential(multiplier=settings.register_backoff_s, max=30.0),
        before_sleep=waiting,
        reraise=True,
    )
    try:
        return retrying(call)
    except TorchServeUnavailable as error:
        raise JobFailure(
            "torchserve_unavailable",
            f"TorchServe did not answer after {settings.register_attempts} attempts "
            f"({error.message}); the trained generator is kept in the job's artifacts",
        ) from None
    except TorchServeError as error:
        raise JobFailure(
            "registration_failed", f"TorchServe refused the model: {error.message}"
        ) from None


def classify(error: Exception) -> tuple[str, str]:
    """An error code and a message a user can act on."""
    if isinstance(error, DataError):
        return "bad_dataset", str(error)
    if isinstance(error, PreflightError):
        return "preflight_failed", str(error)
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


class ThrottledProgress:
    """The engine's progress callback, written to the record at most once per interval."""

    def __init__(self, store: JobStore, job_id: str, interval_s: float) -> None:
        self.store, self.job_id, self.interval_s = store, job_id, interval_s
        self.last_write = 0.0
        self.pending: Progress | None = None
        self.times: dict[str, float] = {}  # first_step_at and last_step_at, epoch seconds

    def __call__(self, progress: Progress) -> None:
        self.pending = progress
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
        values["eta_s"] = None if values["eta_s"] == float("inf") else values["eta_s"]
        self.store.update(self.job_id, progress=values)
        self.last_write, self.pending = time.monotonic(), None


class CancelCheck:
    """The engine's stop callback: reads the cancel flag, at most every ``interval_s``."""

    def __init__(self, store: JobStore, job_id: str, interval_s: float) -> None:
        self.store, self.job_id, self.interval_s = store, job_id, interval_s
        self.last_check = 0.0
        self.cancelled = False

    def __call__(self) -> bool:
        now = time.monotonic()
        if not self.cancelled and now - self.last_check >= self.interval_s:
            self.last_check = now
            self.cancelled = self.store.cancel_requested(self.job_id)
        return self.cancelled


class LockKeeper:
    """Renews the job's lock lease in the background while the job runs."""

    def __init__(self, store: JobStore, job_id: str, owner: str, lease_s: float) -> None:
        self.store, self.job_id, self.owner, self.lease_s = store, job_id, owner, lease_s
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"lock-{job_id[:8]}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopped.set()
        if self.thread.is_alive():
            self.thread.join(timeout=5)

    def _run(self) -> None:
        while not self.stopped.wait(self.lease_s / 3):
            try:
                if not self.store.renew_lock(self.job_id, self.owner, self.lease_s):
                    logger.warning("job %s: lost its lock", self.job_id)
            except Exception:  # Redis briefly away: try again at the next tick
                logger.warning("job %s: lock renewal failed", self.job_id, exc_info=True)
