"""/v1/jobs: submit, list, read and cancel training jobs, and fetch their outputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flask import Response, g, jsonify, request, send_file, stream_with_context, url_for
from flask_openapi3 import APIBlueprint, Tag

from services.api import services
from services.api.events import event_stream
from services.api.models import check_name_is_theirs, models_full
from services.auth import caller, caller_id, check_key, may_see, needs, public_read
from services.errors import PRIVATE, ApiError, problems
from services.schemas import JobAccepted, JobList, JobPath, JobPublic, JobQuery
from workers.events import valid_event_id
from workers.limits import limit_errors
from workers.spec import JobSpec
from workers.store import InvalidTransition, Job, JobNotFound, TooManyJobs

jobs = APIBlueprint(
    "jobs",
    __name__,
    url_prefix="/v1/jobs",
    abp_tags=[Tag(name="jobs", description="Training jobs and their outputs")],
    abp_security=[{"apiKey": []}],
)
jobs.before_request(check_key)
PNG = {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}}
BINARY = {
    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
}
METRICS = {"content": {"application/json": {"schema": {"type": "object"}}}}
EVENTS = {"content": {"text/event-stream": {"schema": {"type": "string"}}}}
QUEUE_RETRY_AFTER_S = 30  # a queued job takes about this long to start or finish, at best


@jobs.post(
    "",
    summary="Submit a training job",
    responses={202: JobAccepted, **problems(400, 401, 413, 415, 422, 429, 503)},
)
@needs("train")
def submit(body: JobSpec) -> tuple[Response, int, dict[str, str]]:
    """Validated against the service's limits, recorded, queued; answers the job's URL."""
    settings = services().settings
    if errors := limit_errors(body, settings):
        raise ApiError.invalid(errors)
    name_owner = None
    if body.serve_as:
        if not services().store.has_room(body.serve_as, settings.max_served_models):
            raise models_full(settings.max_served_models)
        name_owner = check_name_is_theirs(body.serve_as)
    try:
        job = services().store.create(
            body,
            owner=caller_id(),
            max_active=settings.max_queued_per_key,
            serve_as_owner=name_owner,
            request_id=g.get("request_id"),
        )
    except TooManyJobs as error:
        raise ApiError(
            429,
            "too_many_jobs",
            f"{error}: wait for one to finish, or cancel one (DELETE /v1/jobs/<id>)",
            headers={"Retry-After": str(QUEUE_RETRY_AFTER_S)},
        ) from None
    services().send_job(job.id)
    url = url_for("jobs.read", job_id=job.id)
    return jsonify({"id": job.id, "state": job.state, "url": url}), 202, {"Location": url}


@jobs.get(
    "", summary="List jobs, newest first", responses={200: JobList, **problems(401, 422, 503)}
)
@public_read
@needs("train")
def listing(query: JobQuery) -> Response:
    principal = caller()  # a key without admin lists its own jobs only
    owner = principal.id if principal and not principal.admin else None
    page, total = services().store.list_jobs(query.offset, query.limit, query.state, owner)
    return jsonify(
        {
            "jobs": [public(job) for job in page],
            "total": total,
            "offset": query.offset,
            "limit": query.limit,
        }
    )


@jobs.get(
    "/<job_id>",
    summary="One job: progress, metrics, errors, served model",
    responses={200: JobPublic, **problems(401, 404, 503)},
)
@public_read
@needs("train")
def read(path: JobPath) -> Response:
    return jsonify(public(job_or_404(path.job_id)))


@jobs.delete(
    "/<job_id>",
    summary="Cancel a job",
    responses={202: JobPublic, **problems(401, 404, 409, 503)},
)
@needs("train")
def cancel(path: JobPath) -> tuple[Response, int]:
    job_or_404(path.job_id)
    try:
        job = services().store.cancel(path.job_id)
    except InvalidTransition as error:
        raise ApiError(
            409, "conflict", f"the job is already {error.current}; it cannot be cancelled"
        ) from None
    return jsonify(public(job)), 202


@jobs.get(
    "/<job_id>/events",
    summary="The job's events, live (Server-Sent Events; Last-Event-ID resumes)",
    responses={200: EVENTS | {"description": "event stream"}, **problems(400, 401, 404, 503)},
)
@public_read
@needs("train")
def events(path: JobPath) -> Response:
    """state, progress and samples events as they happen, then one end event; the stream
    starts at the job's first event, or after the one a reconnecting client names."""
    job_or_404(path.job_id)
    after = request.headers.get("Last-Event-ID", "").strip() or "0-0"
    if not valid_event_id(after):
        raise ApiError(
            400, "bad_request", "Last-Event-ID must be an event id this stream sent, like 1-0"
        )
    stream = event_stream(services().events, services().store, path.job_id, after)
    return Response(
        stream_with_context(stream),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@jobs.get(
    "/<job_id>/metrics",
    summary="The loss series so far (live while training), and the evaluation once it succeeded",
    responses={200: METRICS | {"description": "metrics"}, **problems(401, 404, 503)},
)
@public_read
@needs("train")
def metrics(path: JobPath) -> Response:
    """``state``, ``step`` (of the loss series), ``series`` (``d_loss``, ``g_loss``: one value
    every ``record_every`` training calls; the ``loss`` and its ``ideal``), and, after success,
    the evaluation's figures."""
    job = job_or_404(path.job_id)
    series = _artifact_path(job, "history")
    if series is None and job.metrics is None:
        raise ApiError(404, "not_found", _not_yet(job, "its loss series", live=True))
    losses = json.loads(series.read_text()) if series is not None else None
    step = (job.progress or {}).get("step") if job.metrics else (job.live or {}).get("step")
    return jsonify((job.metrics or {}) | {"state": job.state, "step": step, "series": losses})


@jobs.get(
    "/<job_id>/loss.png",
    summary="Loss plot (the latest while training)",
    responses={200: PNG | {"description": "PNG"}, **problems(401, 404, 503)},
)
@public_read
@needs("train")
def loss_plot(path: JobPath) -> Response:
    return _file(path.job_id, "loss_plot", "loss.png", "image/png")


@jobs.get(
    "/<job_id>/samples.png",
    summary="Sample grid (the latest while training)",
    responses={200: PNG | {"description": "PNG"}, **problems(401, 404, 503)},
)
@public_read
@needs("train")
def samples(path: JobPath) -> Response:
    return _file(path.job_id, "samples", "samples.png", "image/png")


@jobs.get(
    "/<job_id>/model.mar",
    summary="The generator as a TorchServe archive (every succeeded job has one)",
    responses={200: BINARY | {"description": ".mar"}, **problems(401, 404, 503)},
)
@needs("train")
def archive(path: JobPath) -> Response:
    return _file(path.job_id, "archive", "model.mar", "application/octet-stream")


@jobs.get(
    "/<job_id>/generator.pt",
    summary="The generator's weights and settings (torch.load with weights_only=True)",
    responses={200: BINARY | {"description": "generator.pt"}, **problems(401, 404, 503)},
)
@needs("train")
def generator(path: JobPath) -> Response:
    return _file(path.job_id, "generator", "generator.pt", "application/octet-stream")


def public(job: Job) -> dict[str, Any]:
    """The job as users see it: artifact URLs instead of server paths."""
    data = job.model_dump(
        mode="json", exclude={"owner", "serve_as_owner", "live"}
    )  # no keys, no paths
    if job.live and not job.finished:
        data["live"] = {
            "step": job.live.get("step"),
            "loss_plot": url_for("jobs.loss_plot", job_id=job.id),
            "samples": url_for("jobs.samples", job_id=job.id),
            "metrics": url_for("jobs.metrics", job_id=job.id),
        }
    if job.artifacts:
        data["artifacts"] = {
            "loss_plot": url_for("jobs.loss_plot", job_id=job.id),
            "samples": url_for("jobs.samples", job_id=job.id),
            "metrics": url_for("jobs.metrics", job_id=job.id),
            "generator": url_for("jobs.generator", job_id=job.id),
        }
        if "archive" in job.artifacts:
            data["artifacts"]["archive"] = url_for("jobs.archive", job_id=job.id)
    if job.served:
        data["served"] = {"name": job.served["name"], "version": job.served["version"]}
    return data


def _artifact_path(job: Job, artifact: str) -> Path | None:
    """The job's final output, else its latest live one, if it lies under the artifact root."""
    final = (job.artifacts or {}).get(artifact)
    path = Path(final or (job.live or {}).get(artifact) or "")
    root = services().settings.artifact_root.resolve()
    if root not in path.resolve().parents or not path.is_file():
        return None
    return path


def _file(job_id: str, artifact: str, name: str, mimetype: str) -> Response:
    job = job_or_404(job_id)
    path = _artifact_path(job, artifact)
    if path is None:
        raise ApiError(404, "not_found", _not_yet(job, name, live=mimetype == "image/png"))
    download = mimetype == "application/octet-stream"
    final = bool(job.artifacts)  # a live picture is replaced every few seconds
    response = send_file(
        path,
        mimetype=mimetype,
        as_attachment=download,
        download_name=name,
        conditional=final,
        etag=final,
    )
    response.headers["Cache-Control"] = PRIVATE  # a key's own files: no cache keeps them
    return response


def _not_yet(job: Job, what: str, live: bool) -> str:
    if job.finished:
        return f"the job is {job.state} and has no {what}"
    when = "a few seconds into training" if live else "when the job succeeds"
    return f"the job is {job.state}: {what} comes {when}"


def job_or_404(job_id: str) -> Job:
    """The job, if the caller may see it: another key's job is as unknown as a missing one."""
    job: Job | None
    try:
        job = services().store.get(job_id)
    except JobNotFound:
        job = None
    if job is None or not may_see(job.owner):
        raise ApiError(404, "not_found", f"no job {json.dumps(job_id[:64])}")
    return job
