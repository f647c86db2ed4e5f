"""/v1/models: the served generators, and images from them by class."""

from __future__ import annotations

import re
import time
from typing import Any

from flask import Blueprint, Response, jsonify, request

from services.api import json_body, services, validate
from services.auth import require_key
from services.errors import ApiError
from services.schemas import GenerateRequest
from workers.spec import SERVE_NAME_PATTERN

models = Blueprint("models", __name__, url_prefix="/v1/models")
NAME = re.compile(SERVE_NAME_PATTERN)
VERSION = re.compile(r"^[0-9]{1,6}(\.[0-9]{1,6}){0,2}$")
QUERY_INTEGERS = ("n", "label", "seed")
MODEL_CACHE_S = 2.0


@models.get("")
@require_key(always=False)
def listing() -> Response:
    return jsonify({"models": services().store.list_models()})


@models.get("/<name>")
@require_key(always=False)
def read(name: str) -> Response:
    return jsonify(_model(name))


@models.post("/<name>/generate")
@require_key(always=False)
def generate(name: str) -> Response:
    """JSON body; answers a PNG grid for 'Accept: image/png', JSON with PNGs otherwise."""
    body = json_body()
    if "format" not in body and _prefers_png():
        body["format"] = "grid"
    return _generate(name, body)


@models.get("/<name>/generate")
@require_key(always=False)
def generate_get(name: str) -> Response:
    """The same from query parameters, a PNG grid by default: for browsers and 'curl -o'."""
    allowed = {*QUERY_INTEGERS, "format", "version"}
    unknown = sorted(set(request.args) - allowed)
    if unknown:
        raise ApiError(
            400,
            "invalid_request",
            f"unknown parameter {unknown[0]}; use n, label, seed, format, version",
            {unknown[0]: "unknown"},
        )
    body: dict[str, Any] = {"format": request.args.get("format", "grid")}
    for key in QUERY_INTEGERS:
        if key in request.args:
            value = request.args[key]
            if not value.isdigit():
                raise ApiError(
                    400,
                    "invalid_request",
                    f"{key} must be a non-negative integer",
                    {key: "not an integer"},
                )
            body[key] = int(value)
    return _generate(name, body)


def _generate(name: str, body: dict[str, Any]) -> Response:
    model = _cached_model(name)
    generate_request: GenerateRequest = validate(GenerateRequest, body)
    _check_against(model, generate_request)
    version = request.args.get("version")
    if version is not None and (not VERSION.match(version) or version not in model["versions"]):
        raise ApiError(
            404,
            "not_found",
            f"model {name} has no version {version[:20]!r}; it has {', '.join(model['versions'])}",
        )
    answer = services().torchserve.infer(
        name, generate_request.payload(), version=version, check=False
    )
    if answer.status == 400:
        error = answer.json().get("error", {})
        raise ApiError(
            400, "invalid_request", error.get("message", "invalid request"), error.get("fields")
        )
    if answer.status != 200:
        raise ApiError(502, "model_server_error", f"the model server answered {answer.status}")
    content_type = (
        "image/png" if answer.content_type.startswith("image/png") else "application/json"
    )
    return Response(answer.body, status=200, mimetype=content_type)


def _check_against(model: dict[str, Any], generate_request: GenerateRequest) -> None:
    """Refuse what the model cannot do before asking TorchServe."""
    limit = services().settings.max_images
    if generate_request.n is not None and generate_request.n > limit:
        raise ApiError(
            400, "invalid_request", f"n must be at most {limit}", {"n": f"at most {limit}"}
        )
    classes = int(model["num_classes"])
    label = generate_request.label
    if classes == 0 and label is not None:
        raise ApiError(
            400,
            "invalid_request",
            "this model is unconditional: leave out 'label'",
            {"label": "not accepted"},
        )
    if classes and label is None:
        names = (
            ", ".join(f"{i}={n}" for i, n in enumerate(model["class_names"])) or f"0-{classes - 1}"
        )
        raise ApiError(
            400, "invalid_request", f"'label' is required: {names}", {"label": "required"}
        )
    if classes and label is not None and label >= classes:
        raise ApiError(
            400, "invalid_request", f"label must be 0-{classes - 1}", {"label": "out of range"}
        )


def _model(name: str) -> dict[str, Any]:
    model = services().store.get_model(name) if NAME.match(name) else None
    if model is None:
        raise ApiError(404, "not_found", f"no model named {name[:64]!r}; see GET /v1/models")
    return model


def _cached_model(name: str) -> dict[str, Any]:
    cache = services().model_cache
    now = time.monotonic()
    hit = cache.get(name)
    if hit is not None and hit[0] > now:
        return hit[1]
    model = _model(name)
    cache[name] = (now + MODEL_CACHE_S, model)
    return model


def _prefers_png() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "image/png"])
    return (
        best == "image/png"
        and request.accept_mimetypes["image/png"] > request.accept_mimetypes["application/json"]
    )
