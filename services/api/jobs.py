"""/v1/jobs: submit, list, read and cancel training jobs, and fetch their outputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, jsonify, request, send_file, url_for

from services.api import json_body, services, validate
from services.auth import require_key
from services.errors import ApiError
from workers.spec import JobSpec
from workers.store import STATES, InvalidTransition, Job, JobNotFound

jobs = Blueprint("jobs", __name__, url_prefix="/v1/jobs")

FILES = {"loss.png": "loss_plot", "samples.png": "samples"}
MAX_PAGE = 100


@jobs.post("")
@require_key()
def submit() -> tuple[Response, int, dict[str, str]]:
    spec = validate(JobSpec, json_body())
    job = services().store.create(spec)
    services().send_job(job.id)
    url = url_for("jobs.read", job_id=job.id)
    return jsonify({"id": job.id, "state": job.state, "url": url}), 202, {"Location": url}


@jobs.get("")
@require_key(always=False)
def listing() -> Response:
    state = request.args.get("state") or None
    if state is not None and state not in STATES:
        raise ApiError(
            400,
            "invalid_request",
            f"state must be one of {', '.join(STATES)}",
            {"state": "unknown state"},
        )
    offset = _integer_arg("offset", 0, 0, 1_000_000)
    limit = _integer_arg("limit", 20, 1, MAX_PAGE)
    page, total = services().store.list_jobs(offset, limit, state)
    return jsonify(
        {"jobs": [public(job) for job in page], "total": total, "offset": offset, "limit": limit}
    )


@jobs.get("/<job_id>")
@require_key(always=False)
def read(job_id: str) -> Response:
    return jsonify(public(_job(job_id)))


@jobs.delete("/<job_id>")
@require_key()
def cancel(job_id: str) -> tuple[Response, int]:
    _job(job_id)
    try:
        job = services().store.cancel(job_id)
    except InvalidTransition as error:
        raise ApiError(
            409, "conflict", f"the job is already {error.current}; it cannot be cancelled"
        ) from None
    return jsonify(public(job)), 202


@jobs.get("/<job_id>/metrics")
@require_key(always=False)
def metrics(job_id: str) -> Response:
    job = _job(job_id)
    if job.metrics is None:
        raise ApiError(
            404, "not_found", f"the job is {job.state}: its metrics come when it succeeds"
        )
    return jsonify(job.metrics)


@jobs.get("/<job_id>/<any('loss.png', 'samples.png'):name>")
@require_key(always=False)
def picture(job_id: str, name: str) -> Response:
    job = _job(job_id)
    path = Path((job.artifacts or {}).get(FILES[name], ""))
    root = services().settings.artifact_root.resolve()
    if not job.artifacts or root not in path.resolve().parents or not path.is_file():
        raise ApiError(404, "not_found", f"the job is {job.state}: {name} comes when it succeeds")
    return send_file(path, mimetype="image/png", max_age=3600)


def public(job: Job) -> dict[str, Any]:
    """The job as users see it: artifact URLs instead of server paths."""
    data = job.to_dict()
    if job.artifacts:
        data["artifacts"] = {
            "loss_plot": url_for("jobs.picture", job_id=job.id, name="loss.png"),
            "samples": url_for("jobs.picture", job_id=job.id, name="samples.png"),
            "metrics": url_for("jobs.metrics", job_id=job.id),
        }
    if job.served:
        data["served"] = {"name": job.served["name"], "version": job.served["version"]}
    return data


def _job(job_id: str) -> Job:
    try:
        return services().store.get(job_id)
    except JobNotFound:
        raise ApiError(404, "not_found", f"no job {json.dumps(job_id[:64])}") from None


def _integer_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ApiError(
            400,
            "invalid_request",
            f"{name} must be an integer from {low} to {high}",
            {name: "out of range"},
        )
    return int(raw)
