"""One blueprint per resource: health, jobs, models, docs."""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from pydantic import BaseModel, ValidationError

from services.errors import ApiError


def services() -> Any:
    """The app's Services (settings, store, torchserve, send_job)."""
    return current_app.extensions["ganfoundry"]


def json_body() -> Any:
    """The request's JSON object, or a 415/400 that says what to send."""
    if not request.is_json:
        raise ApiError(
            415,
            "unsupported_media_type",
            "send the body as JSON with 'Content-Type: application/json'",
        )
    body = request.get_json(silent=True)
    if body is None:
        raise ApiError(400, "bad_request", "the body is not valid JSON")
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", "the body must be a JSON object")
    return body


def validate(model: type[BaseModel], data: Any) -> Any:
    """Validate with a pydantic model; a 400 lists every bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        fields = {
            ".".join(str(p) for p in item["loc"]) or "body": item["msg"] for item in error.errors()
        }
        summary = "; ".join(f"{k}: {v}" for k, v in fields.items())
        raise ApiError(400, "invalid_request", f"invalid request: {summary}", fields) from None
