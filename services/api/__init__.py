"""One blueprint per resource: health, jobs, models, docs; and how the API reads its input."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import Request, current_app
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import BadRequest

from model_archive.problems import field_errors
from services.errors import ApiError

Model = TypeVar("Model", bound=BaseModel)


def services() -> Any:
    """The app's Services (settings, store, torchserve, send_job)."""
    return current_app.extensions["ganfoundry"]


def validate(model: type[Model], data: Any, context: dict[str, Any] | None = None) -> Model:
    """Validate with a pydantic model (and a validation context); a 422 names every bad field."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as error:
        raise ApiError.invalid(field_errors(error)) from None


class ApiRequest(Request):
    """A request whose JSON body is either there or refused: 415 not JSON, 400 not parseable.

    flask-openapi3 reads bodies with ``get_json(silent=True)``; silence would turn both into a
    422 about a missing body, and a deeply nested body into a RecursionError (a 500).
    """

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        if not (force or self.is_json):
            raise ApiError(
                415,
                "unsupported_media_type",
                "send the body as JSON with 'Content-Type: application/json'",
            )
        try:
            return super().get_json(force=force, silent=False, cache=cache)
        except BadRequest:
            raise ApiError(400, "bad_request", "the body is not valid JSON") from None
        except RecursionError:
            raise ApiError(
                400, "bad_request", "the body is not valid JSON (nested too deeply)"
            ) from None
