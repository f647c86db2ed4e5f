"""A trained generator to a served model: archive it, register it, make it the default.

Every job's generator is also exported as a ``.mar`` of its own (``export``); only a job with
``serve_as`` registers it. One served later (``POST /v1/models``) is archived by the reconciler
(``archive_from_job``).

TorchServe may be down meanwhile: calls are retried with an exponential backoff (tenacity), and
a stopping worker hands the job back rather than waiting on (training is never redone).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
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
from workers.catalog import RecordedVersion
from workers.engine.families import get_family
from workers.engine.pipeline import JobOutcome
from workers.failures import HandBack, JobFailure
from workers.reconciler import file_sha256
from workers.records import Archive, ModelMeta
from workers.settings import WorkerSettings
from workers.spec import JobSpec
from workers.store import JobNotFound, JobStore

T = TypeVar("T")


def export(job_id: str, outcome: JobOutcome, settings: WorkerSettings) -> Path:
    """Every job's generator as a ``.mar`` in its own folder, downloadable whether or not it is
    served (a served name gets an archive of its own version in the model store)."""
    try:
        return build_archive(
            Path(outcome.artifacts["generator"]), _job_name(job_id), "1", settings.job_dir(job_id)
        )
    except ArchiveError as error:
        raise JobFailure("archive_failed", str(error)) from None


def serve(
    job_id: str,
    spec: JobSpec,
    outcome: JobOutcome,
    settings: WorkerSettings,
    store: JobStore,
    stopping: threading.Event,
) -> dict[str, Any] | None:
    """Archive the generator and register it as the default version of ``spec.serve_as``;
    nothing without one (the job can be served later: ``POST /v1/models``)."""
    name = spec.serve_as
    if name is None:
        return None
    if not store.has_room(name, settings.max_served_models):
        raise JobFailure("too_many_models", _full(settings.max_served_models, job_id))
    job = store.get(job_id)
    if not store.claim_name(name, job.owner, job.serve_as_owner):
        raise JobFailure("name_taken", _taken(name, job_id))
    client = settings.torchserve_client()

    def retried(call: Callable[[], T]) -> T:
        return _retry(call, settings, store, job_id, stopping)

    floor = retried(lambda: next_version(client, name))
    version = store.reserve_version(name, floor)
    try:
        archive = archive_version(Path(outcome.artifacts["generator"]), name, version, settings)
    except ArchiveError as error:
        raise JobFailure("archive_failed", str(error)) from None
    retried(lambda: client.register(archive.file, name))
    # recorded before it becomes TorchServe's default: a reconciler pass in between then agrees
    store.record_model(
        name,
        version,
        job_id,
        model_meta(spec),
        archive,
        keep=settings.keep_versions,
        owner=job.owner,  # the key that submitted the job serves the name
    )
    retried(lambda: client.set_default(name, version))
    return {"name": name, "version": version, "archive": str(settings.model_store / archive.file)}


def archive_version(generator: Path, name: str, version: str, settings: WorkerSettings) -> Archive:
    """A version's archive in the model store, as the record keeps it (ArchiveError: why not)."""
    mar = build_archive(generator, name, version, settings.model_store)
    return Archive(file=mar.name, sha256=file_sha256(mar), created_at=time.time())


def archive_from_job(store: JobStore, settings: WorkerSettings, entry: RecordedVersion) -> Archive:
    """The reconciler's ``build``: a version served later gets its archive from its job."""
    try:
        job = store.get(entry.job_id)
    except JobNotFound:
        raise ArchiveError(f"its job {entry.job_id} is no longer recorded") from None
    generator = (job.artifacts or {}).get("generator")
    if generator is None:
        raise ArchiveError(f"its job {entry.job_id} has no generator")
    return archive_version(Path(generator), entry.name, entry.version, settings)


def _job_name(job_id: str) -> str:
    return f"job-{job_id[:12]}"


def _full(cap: int, job_id: str) -> str:
    return (
        f"{cap} models are served, the most allowed (GANFOUNDRY_MAX_SERVED_MODELS); the generator "
        f"is kept: delete a model (DELETE /v1/models/<name>), then serve it with POST /v1/models "
        f'{{"job_id": "{job_id}", "name": ...}}'
    )


def _taken(name: str, job_id: str) -> str:
    return (
        f"another key started serving the name {name} while this job trained; the generator is "
        f"kept: serve it under another name with POST /v1/models "
        f'{{"job_id": "{job_id}", "name": ...}}'
    )


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


def next_version(client: TorchServeClient, name: str) -> int:
    """One past the highest version TorchServe knows: a floor for ``reserve_version`` (versions
    registered before the record kept its counter)."""
    try:
        versions = [d["modelVersion"] for d in client.describe(name)]
    except TorchServeError as error:
        if error.status != 404 or isinstance(error, TorchServeUnavailable):
            raise
        versions = []
    numbers = [int(float(v)) for v in versions if v.replace(".", "", 1).isdigit()]
    return max(numbers, default=0) + 1


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
