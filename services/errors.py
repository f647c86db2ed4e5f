"""One JSON error shape for every failure: {"error": {"code", "message", "fields"?}}."""

from __future__ import annotations

import logging
from typing import Any

import redis
from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from services.torchserve_client import TorchServeError, TorchServeUnavailable

logger = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, fields: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields


def error_response(
    status: int, code: str, message: str, fields: dict[str, str] | None = None
) -> tuple[Response, int]:
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return jsonify({"error": body}), status


HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def api_error(error: ApiError) -> tuple[Response, int]:
        response, status = error_response(error.status, error.code, error.message, error.fields)
        if status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="ganfoundry"'
        return response, status

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[Response, int]:
        status = error.code or 500
        messages = {
            404: "no such resource; see /openapi.json",
            413: f"the request body is larger than {app.config['MAX_CONTENT_LENGTH']} bytes",
        }
        message = messages.get(status, error.description or error.name)
        return error_response(status, HTTP_CODES.get(status, "http_error"), message)

    @app.errorhandler(redis.RedisError)
    def redis_down(error: redis.RedisError) -> tuple[Response, int]:
        logger.warning("redis unavailable: %s", error)
        return error_response(
            503, "redis_unavailable", "the job store is unavailable; try again shortly"
        )

    @app.errorhandler(TorchServeUnavailable)
    def torchserve_down(error: TorchServeUnavailable) -> tuple[Response, int]:
        logger.warning("torchserve unavailable: %s", error.message)
        return error_response(
            503, "torchserve_unavailable", "the model server is unavailable; try again shortly"
        )

    @app.errorhandler(TorchServeError)
    def torchserve_error(error: TorchServeError) -> tuple[Response, int]:
        if error.status == 404:
            return error_response(404, "not_found", "no such model is being served")
        logger.error("torchserve error %s: %s", error.status, error.message)
        return error_response(502, "model_server_error", "the model server failed to answer")

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> tuple[Response, int]:
        logger.exception("unhandled error")
        return error_response(500, "internal_error", "an unexpected error occurred; it was logged")
