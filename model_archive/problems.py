"""Errors as RFC 9457 problem details: the one error shape of the gateway and the model server.

    {"type": "about:blank", "title": "Unprocessable Content", "status": 422,
     "detail": "label: required: ...", "code": "invalid_request", "instance": "/v1/...",
     "fields": {"label": "required: ..."}}

``type`` stays ``about:blank``: the status and ``code`` (a stable, documented name) say what went
wrong, ``detail`` says what to change, ``fields`` maps each bad field (dotted path) to its problem.
Packed into every archive beside the handler; imports the standard library and pydantic only.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from pydantic import ValidationError

MEDIA_TYPE = "application/problem+json"


def problem(
    status: int,
    code: str,
    detail: str,
    fields: dict[str, str] | None = None,
    instance: str | None = None,
) -> dict[str, Any]:
    """The problem body; ``instance`` (the request path) and ``fields`` only when known."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": _title(status),
        "status": status,
        "detail": detail,
        "code": code,
    }
    if instance is not None:
        body["instance"] = instance
    if fields:
        body["fields"] = fields
    return body


def field_errors(error: ValidationError) -> dict[str, str]:
    """Each bad field (dotted path, 'body' for the whole) → what is wrong; the first error wins."""
    fields: dict[str, str] = {}
    for item in error.errors(include_url=False, include_input=False):
        name = ".".join(str(part) for part in item["loc"]) or "body"
        if item["type"] == "extra_forbidden":
            message = "unknown field: leave it out"
        else:
            message = item["msg"].removeprefix("Value error, ")
        fields.setdefault(name, message)
    return fields


def summary(fields: dict[str, str]) -> str:
    """One line for people: 'n: ...; label: ...'."""
    return "; ".join(f"{name}: {message}" for name, message in fields.items())


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
