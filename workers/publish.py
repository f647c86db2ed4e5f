"""A trained generator to a served model: archive it, register it, make it the default.

TorchServe may be down meanwhile: calls are retried with an exponential backoff (tenacity), and
a stopping worker hands the job back rather than waiting on (training is never redone).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_when_event_set,
    wait_exponential,
)

from model_archive.builder import ArchiveError, build_archive
from model_archive.client import TorchServeClient, TorchServeError, TorchServeUnavailable
from workers.engine.families import get_family
from workers.engine.pipeline import JobOutcome
from workers.failures import HandBack, JobFailure
from workers.reconciler import file_sha256
from workers.records import Archive, ModelMeta
from workers.settings import WorkerSettings
from workers.spec import JobSpec
from workers.store import JobStore

T = TypeVar("T")


def serve(
    job_id: str,
    spec: JobSpec,
    outcome: JobOutcome,
    settings: WorkerSettings,
    store: JobStore,
    stopping: threading.Event,
) -> dict[str, Any]:
    """Archive the generator and register it as the default version of its name."""
    name = spec.serve_as or f"job-{job_id[:12]}"
    client = settings.torchserve_client()

    def retried(call: Callable[[], T]) -> T:
        return _retry(call, settings, store, job_id, stopping)

    recorded = (store.get_model(name) or {}).get("versions", {})
    version = retried(lambda: next_version(client, name, recorded))
    try:
        mar = build_archive(
            Path(outcome.artifacts["generator"]), name, version, settings.model_store
        )
    except ArchiveError as error:
        raise JobFailure("archive_failed", str(error)) from None
    retried(lambda: client.register(mar.name, name))
    # recorded before it becomes TorchServe's default: a reconciler pass in between then agrees
    archive = Archive(file=mar.name, sha256=file_sha256(mar), created_at=time.time())
    store.record_model(name, version, job_id, model_meta(spec), archive)
    retried(lambda: client.set_default(name, version))
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


def next_version(client: TorchServeClient, name: str, recorded: Iterable[str] = ()) -> str:
    """One past the highest version TorchServe or the record knows (a restarted TorchServe may
    not have them all back yet)."""
    try:
        versions = [d["modelVersion"] for d in client.describe(name)]
    except TorchServeError as error:
        if error.status != 404 or isinstance(error, TorchServeUnavailable):
            raise
        versions = []
    numbers = [int(float(v)) for v in [*versions, *recorded] if v.replace(".", "", 1).isdigit()]
    return str(max(numbers, default=0) + 1)


def _retry(
    call: Callable[[], T],
    settings: WorkerSettings,
    store: JobStore,
    job_id: str,
    stopping: threading.Event,
) -> T:
    """Retry while TorchServe is unavailable, backing off exponentially; training is not redone.

    A worker that is stopping hands the job back (HandBack) instead of waiting on.
    """

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
        stop=stop_after_attempt(settings.register_attempts) | stop_when_event_set(stopping),
        wait=wait_exponential(multiplier=settings.register_backoff_s, max=30.0),
        before_sleep=waiting,
        sleep=stopping.wait,  # type: ignore[arg-type]  # a stop cuts the wait short
        reraise=True,
    )
    try:
        return retrying(call)
    except TorchServeUnavailable as error:
        if stopping.is_set():
            raise HandBack() from None
        raise JobFailure(
            "torchserve_unavailable",
            f"TorchServe did not answer after {settings.register_attempts} attempts "
            f"({error.message}); the trained generator is kept in the job's artifacts",
        ) from None
    except TorchServeError as error:
        raise JobFailure(
            "registration_failed", f"TorchServe refused the model: {error.message}"
        ) from None
