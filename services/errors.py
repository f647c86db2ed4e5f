"""Every failure as an RFC 9457 problem (application/problem+json) with a ``code`` member.

400 the body is not JSON; 422 it (or the query) parses but breaks a rule, with ``fields``;
401 (``WWW-Authenticate``), 404, 405 (``Allow``), 409, 413, 415; 502 the model server failed;
503 Redis or the model server is down or not ready (``Retry-After``); 500 a bug (logged).
"""

from __future__ import annotations

import json
import logging
from typing import Any, NoReturn

import redis
from flask import Flask, Response, request
from flask_openapi3.types import ResponseDict
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from model_archive.client import TorchServeError, TorchServeUnavailable
from model_archive.problems import MEDIA_TYPE, field_errors, problem, summary

logger = logging.getLogger(__name__)
PRIVATE = "private, no-store"  # Cache-Control of a key's own images and files
RETRY_AFTER_S = 2  # Redis reconnects and TorchServe loads a model within about this
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
}


class ApiError(Exception):
    """An answer other than success; raised anywhere, answered as a problem at the edge."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields
        self.headers = headers or {}
        if status in (429, 503):
            self.headers.setdefault("Retry-After", str(RETRY_AFTER_S))
        if status == 401:
            self.headers.setdefault("WWW-Authenticate", 'Bearer realm="ganfoundry"')

    @classmethod
    def invalid(cls, fields: dict[str, str]) -> ApiError:
        """422: the input parsed but these fields break the rules."""
        return cls(422, "invalid_request", summary(fields), fields)


def raise_invalid(error: ValidationError) -> NoReturn:
    """flask-openapi3's validation_error_callback: a 422 problem, not its own error list."""
    raise ApiError.invalid(field_errors(error))


def problem_response(error: ApiError) -> Response:
    body = problem(error.status, error.code, error.message, error.fields, request.path)
    response = Response(json.dumps(body), status=error.status, mimetype=MEDIA_TYPE)
    response.headers.update(error.headers)
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def api_error(error: ApiError) -> Response:
        return problem_response(error)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        messages = {
            404: "no such resource; see /openapi.json",
            413: f"the request body is larger than {app.config['MAX_CONTENT_LENGTH']} bytes",
        }
        # werkzeug's own headers: Allow on 405, Retry-After where it set one
        headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
        message = messages.get(status, error.description or error.name)
        return problem_response(
            ApiError(status, HTTP_CODES.get(status, "http_error"), message, headers=headers)
        )

    @app.errorhandler(redis.RedisError)
    def redis_down(error: redis.RedisError) -> Response:
        logger.warning("redis unavailable: %s", error)
        return problem_response(
            ApiError(503, "redis_unavailable", "the job store is unavailable; try again shortly")
        )

    @app.errorhandler(TorchServeUnavailable)
    def torchserve_down(error: TorchServeUnavailable) -> Response:
        logger.warning("torchserve unavailable: %s", error.message)
        return problem_response(
            ApiError(
                503,
                "torchserve_unavailable",
                "the model server is unavailable; try again shortly",
            )
        )

    @app.errorhandler(TorchServeError)
    def torchserve_error(error: TorchServeError) -> Response:
        if error.status == 404:
            return problem_response(ApiError(404, "not_found", "no such model is being served"))
        logger.error("torchserve error %s: %s", error.status, error.message)
        return problem_response(
            ApiError(502, "model_server_error", "the model server failed to answer")
        )

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        logger.exception("unhandled error")
        return problem_response(
            ApiError(500, "internal_error", "an unexpected error occurred; it was logged")
        )


_REASONS = {
    400: ("Not JSON", {}),
    401: ("Missing or wrong API key", {"WWW-Authenticate": "Bearer"}),
    403: ("The key lacks the scope this needs, or the name is served by another key", {}),
    404: ("Not found", {}),
    409: ("Conflict with the job's state", {}),
    413: ("Body too large", {}),
    415: ("Not sent as application/json", {}),
    422: ("Invalid input: 'fields' names each bad field", {}),
    429: (
        "A rate limit, the images quota or the jobs per key reached: wait Retry-After seconds",
        {"Retry-After": "30"},
    ),
    502: ("The model server failed", {}),
    503: (
        "Redis or the model server unavailable, or the model not ready",
        {"Retry-After": str(RETRY_AFTER_S)},
    ),
}


def problems(*statuses: int) -> ResponseDict:
    """The OpenAPI responses of these error statuses: a problem body, and their headers. A view
    that takes a key (401) may also refuse one without its scope (403) or past its limits (429)."""
    responses: ResponseDict = {}
    for status in sorted({*statuses, *((403, 429) if 401 in statuses else ())}):
        description, headers = _REASONS[status]
        response: dict[str, Any] = {
            "description": description,
            "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        if headers:
            response["headers"] = {
                name: {"schema": {"type": "string"}, "example": example}
                for name, example in headers.items()
            }
        responses[status] = response
    return responses
