"""/v1/models lifecycle (key required): serve a finished job, pick the default, delete.

Views of the ``models`` blueprint (one blueprint per path prefix keeps /openapi.json whole),
kept in a file of their own.

The views change the record in Redis only; the workers' reconciler makes TorchServe follow within
seconds (registers, sets defaults, unregisters, removes archives). The gateway never calls
TorchServe's management API.
"""

from __future__ import annotations

from flask import Response, jsonify, url_for

from services.api import services
from services.api.jobs import job_or_404
from services.api.models import (
    check_name_is_theirs,
    model_or_404,
    models,
    models_full,
    public_model,
    version_or_404,
)
from services.auth import caller_id, needs
from services.errors import ApiError, problems
from services.schemas import DefaultVersion, ModelPath, ModelPublic, ModelVersionPath, ServeJob
from workers.store import Job


@models.post(
    "",
    summary="Serve a finished job's generator under a name (a new version; loads in seconds)",
    responses={202: ModelPublic, **problems(400, 401, 404, 409, 415, 422, 503)},
)
@needs("train")
def serve_job(body: ServeJob) -> tuple[Response, int, dict[str, str]]:
    store, settings = services().store, services().settings
    job = _served_job(body.job_id)
    check_name_is_theirs(body.name)
    if not store.has_room(body.name, settings.max_served_models):
        raise models_full(settings.max_served_models)
    version = store.reserve_version(body.name)
    assert job.model is not None  # checked by _served_job
    store.record_model(
        body.name,
        version,
        job.id,
        job.model,
        default="when ready" if body.default else "no",
        keep=settings.keep_versions,
        owner=caller_id(),
    )
    store.set_serving(body.name, version, "loading", "its archive is being built")
    url = url_for("models.read", name=body.name)
    return jsonify(public_model(model_or_404(body.name))), 202, {"Location": url}


@models.put(
    "/<name>/default",
    summary="Make a version the default (roll back or forward); TorchServe follows in seconds",
    responses={200: ModelPublic, **problems(400, 401, 404, 409, 415, 422, 503)},
)
@needs("train")
def set_default(path: ModelPath, body: DefaultVersion) -> Response:
    model = model_or_404(path.name)
    check_name_is_theirs(path.name)
    version_or_404(model, body.version)
    serving = model.get("serving", {}).get(body.version) or {}
    if serving.get("state") == "unavailable":
        raise ApiError(
            409,
            "conflict",
            f"version {body.version} is unavailable ({serving.get('reason')}): it cannot be the "
            "default; pick a ready version",
        )
    if not services().store.set_default_version(path.name, body.version):
        raise ApiError(404, "not_found", f"model {path.name} was removed meanwhile")
    services().model_cache.pop(path.name, None)
    return jsonify(public_model(model_or_404(path.name)))


@models.delete(
    "/<name>/versions/<version>",
    summary="Delete one version: unregistered, its archive removed from the model store",
    responses={200: ModelPublic, **problems(401, 404, 409, 503)},
)
@needs("train")
def delete_version(path: ModelVersionPath) -> Response:
    model = model_or_404(path.name)
    check_name_is_theirs(path.name)
    version_or_404(model, path.version)
    if len(model["versions"]) == 1:
        raise ApiError(
            409,
            "conflict",
            f"version {path.version} is the only version of {path.name}: delete the model "
            f"instead (DELETE /v1/models/{path.name})",
        )
    if path.version == model["default_version"]:
        raise ApiError(
            409,
            "conflict",
            f"version {path.version} is the default of {path.name}: make another version the "
            f"default first (PUT /v1/models/{path.name}/default)",
        )
    services().store.retire(path.name, [path.version])
    services().model_cache.pop(path.name, None)
    return jsonify(public_model(model_or_404(path.name)))


@models.delete(
    "/<name>",
    summary="Delete a model and all its versions (the jobs keep their generators)",
    responses={204: None, **problems(401, 404, 409, 503)},
)
@needs("train")
def delete_model(path: ModelPath) -> tuple[str, int]:
    model_or_404(path.name)
    check_name_is_theirs(path.name)
    if waiting := services().store.jobs_serving_as(path.name):
        raise ApiError(
            409,
            "conflict",
            f"job {waiting[0]} will serve its generator as {path.name}: cancel it "
            f"(DELETE /v1/jobs/{waiting[0]}) or wait until it has finished",
        )
    services().store.forget_model(path.name)
    services().model_cache.pop(path.name, None)
    return "", 204


def _served_job(job_id: str) -> Job:
    """The job a model is served from: succeeded, with a generator (404 or 409 otherwise)."""
    job = job_or_404(job_id)
    if job.state != "succeeded":
        raise ApiError(
            409, "conflict", f"job {job_id} is {job.state}: only a succeeded job can be served"
        )
    if job.model is None or not (job.artifacts or {}).get("generator"):
        raise ApiError(
            409,
            "conflict",
            f"job {job_id} finished before jobs kept what serving needs: train it again",
        )
    return job
