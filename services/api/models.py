"""/v1/models: the served generators, and images from them by class."""

from __future__ import annotations

import re
import time
from typing import Any

from flask import Response, g, jsonify, request
from flask_openapi3 import APIBlueprint, Tag

from model_archive.client import Response as ModelServerAnswer
from model_archive.image_request import GenerateRequest
from services.api import services, validate
from services.auth import check_key, may_change, needs, public_read
from services.errors import PRIVATE, ApiError, problems
from services.limits import charge_images
from services.metrics import images_made
from services.schemas import (
    GenerateQuery,
    Images,
    ModelList,
    ModelPath,
    ModelPublic,
    VersionQuery,
)
from workers.spec import SERVE_NAME_PATTERN

models = APIBlueprint(
    "models",
    __name__,
    url_prefix="/v1/models",
    abp_tags=[Tag(name="models", description="Served generators and images from them")],
    abp_security=[{"apiKey": []}],
)
models.before_request(check_key)
NAME = re.compile(SERVE_NAME_PATTERN)
MODEL_CACHE_S = 2.0


@models.get("", summary="Served generators", responses={200: ModelList, **problems(401, 503)})
@public_read
@needs("generate")
def listing() -> Response:
    return jsonify({"models": [public_model(m) for m in services().store.list_models()]})


@models.get(
    "/<name>",
    summary="One served generator",
    responses={200: ModelPublic, **problems(401, 404, 503)},
)
@public_read
@needs("generate")
def read(path: ModelPath) -> Response:
    return jsonify(public_model(model_or_404(path.name)))


@models.post(
    "/<name>/generate",
    summary="Images by class (JSON of PNGs, or a PNG grid for Accept: image/png)",
    responses={200: Images, **problems(400, 401, 404, 413, 415, 422, 502, 503)},
)
@public_read
@needs("generate")
def generate(path: ModelPath, query: VersionQuery) -> Response:
    """JSON body; answers a PNG grid for 'Accept: image/png', JSON with PNGs otherwise."""
    body = request.get_json()  # validated once, with the model's context (documented as BODIES)
    if isinstance(body, dict) and "format" not in body and _prefers_png():
        body = {**body, "format": "grid"}
    return _generate(path.name, body, query.version)


# bodies validated by the views themselves, shown in /openapi.json as if flask-openapi3 did
BODIES = {("/v1/models/{name}/generate", "post"): GenerateRequest}


@models.get(
    "/<name>/generate",
    summary="Images by class from query parameters; a PNG grid by default",
    responses={200: Images, **problems(401, 404, 422, 502, 503)},
)
@public_read
@needs("generate")
def generate_get(path: ModelPath, query: GenerateQuery) -> Response:
    """The same from query parameters: for browsers and 'curl -o'."""
    return _generate(path.name, query.body(), query.version)


def _generate(name: str, body: Any, version: str | None) -> Response:
    model = _cached_model(name)
    context = {
        "num_classes": int(model["num_classes"]),
        "class_names": model.get("class_names"),
        "max_images": services().settings.max_images,
    }
    checked = validate(GenerateRequest, body, context)
    if version is not None:
        version_or_404(model, version)
    wanted = version or model["default_version"]
    serving = model.get("serving", {}).get(wanted)
    if serving is not None and serving["state"] != "ready":  # loading: TorchServe would hold it
        services().model_cache.pop(name, None)  # read the state afresh until it is ready
        raise _not_ready(wanted, serving)
    count = checked.plan().count
    charge_images(count)
    answer = services().torchserve.infer(
        name, checked.payload(), version=version, check=False, request_id=g.get("request_id")
    )
    if answer.status != 200:
        raise _refusal(answer, model, wanted)
    images_made(name, count)
    content_type = (
        "image/png" if answer.content_type.startswith("image/png") else "application/json"
    )
    response = Response(answer.body, status=200, mimetype=content_type)
    response.headers["Cache-Control"] = PRIVATE
    return response


def _refusal(answer: ModelServerAnswer, model: dict[str, Any], version: str) -> ApiError:
    """The model server's no as the gateway's: its 400 is the caller's 422, whatever its body."""
    if answer.status == 400:
        detail, fields = _said(answer)
        return ApiError(422, "invalid_request", detail, fields)
    if answer.status in (404, 503):  # not registered yet, or no worker up: the reconciler is on it
        return _not_ready(version, model.get("serving", {}).get(version))
    return ApiError(502, "model_server_error", f"the model server answered {answer.status}")


def _not_ready(version: str, serving: dict[str, Any] | None) -> ApiError:
    """503 with Retry-After, saying what the record knows of the version's state."""
    state = (serving or {}).get("state", "not ready")
    why = f": {serving['reason']}" if serving and serving.get("reason") else ""
    detail = f"version {version} is {state}{why}; try again shortly"
    return ApiError(503, "model_not_ready", detail)


def _said(answer: ModelServerAnswer) -> tuple[str, dict[str, str] | None]:
    """Detail and fields of a refusal: a problem, the older archives' {"error": ...}, or text."""
    try:
        said = answer.json()
    except (ValueError, RecursionError):
        said = None
    if isinstance(said, dict) and isinstance(said.get("error"), dict):
        said = said["error"]  # archives built before RFC 9457 problems
    if isinstance(said, dict) and isinstance(said.get("detail") or said.get("message"), str):
        fields = said.get("fields")
        if not (isinstance(fields, dict) and all(isinstance(v, str) for v in fields.values())):
            fields = None
        return said.get("detail") or said["message"], fields
    text = answer.body[:200].decode("utf-8", "replace").strip()
    return f"the model server refused the request: {text or 'no reason given'}", None


def model_or_404(name: str) -> dict[str, Any]:
    model = services().store.get_model(name) if NAME.match(name) else None
    if model is None:
        raise ApiError(404, "not_found", f"no model named {name[:64]!r}; see GET /v1/models")
    return model


def check_name_is_theirs(name: str) -> str | None:
    """403 when another key serves ``name`` (a name nobody serves yet is anyone's to take);
    returns the name's owner (None: nobody)."""
    model = services().store.get_model(name)
    owner = None if model is None else model.get("owner")
    if model is not None and not may_change(owner):
        raise ApiError(
            403,
            "forbidden",
            f"the name {name} is served by another key: pick another name (or ask an admin)",
        )
    return owner


def public_model(model: dict[str, Any]) -> dict[str, Any]:
    """A model as users see it: without its owner's key id."""
    return {name: value for name, value in model.items() if name != "owner"}


def models_full(cap: int) -> ApiError:
    """409: no room for another served name (at submit, and when a job is served later)."""
    return ApiError(
        409,
        "too_many_models",
        f"{cap} models are served, the most allowed (GANFOUNDRY_MAX_SERVED_MODELS): delete one "
        "(DELETE /v1/models/<name>) or serve this one under a name already served",
    )


def version_or_404(model: dict[str, Any], version: str) -> None:
    if version not in model["versions"]:
        versions = ", ".join(model["versions"])
        raise ApiError(
            404, "not_found", f"model {model['name']} has no version {version!r}; it has {versions}"
        )


def _cached_model(name: str) -> dict[str, Any]:
    # name → (expiry, model): generation skips two Redis reads per request (a new default
    # version is seen within MODEL_CACHE_S; a new name at once, since misses are not cached)
    cache = services().model_cache
    now = time.monotonic()
    hit = cache.get(name)
    if hit is not None and hit[0] > now:
        return hit[1]
    model = model_or_404(name)
    cache[name] = (now + MODEL_CACHE_S, model)
    return model


def _prefers_png() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "image/png"])
    return (
        best == "image/png"
        and request.accept_mimetypes["image/png"] > request.accept_mimetypes["application/json"]
    )
