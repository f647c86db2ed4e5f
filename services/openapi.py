"""OpenAPI 3.1 for the gateway, generated from the pydantic models that validate requests."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import BaseModel

from services.schemas import (
    ErrorResponse,
    GenerateRequest,
    JobAccepted,
    JobList,
    JobPublic,
    ModelPublic,
)
from workers.spec import JobSpec

MODELS: tuple[type[BaseModel], ...] = (
    JobSpec,
    GenerateRequest,
    JobAccepted,
    JobPublic,
    JobList,
    ModelPublic,
    ErrorResponse,
)


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def errors(*codes: int) -> dict[str, Any]:
    reasons = {
        400: "Invalid request",
        401: "Missing or wrong API key",
        404: "Not found",
        409: "Conflict",
        413: "Body too large",
        415: "Not JSON",
        503: "Redis or TorchServe unavailable",
    }
    return {
        str(code): {"description": reasons[code], "content": json_content(ref("ErrorResponse"))}
        for code in codes
    }


JOB_ID = {
    "name": "job_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
}
MODEL_NAME = {
    "name": "name",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[a-z][a-z0-9-]{0,62}$"},
}
VERSION = {
    "name": "version",
    "in": "query",
    "required": False,
    "schema": {"type": "string", "pattern": r"^[0-9]{1,6}(\.[0-9]{1,6}){0,2}$"},
}
PNG = {"image/png": {"schema": {"type": "string", "format": "binary"}}}


def paths() -> dict[str, Any]:
    integer = {"type": "integer", "minimum": 0}
    return {
        "/healthz": {
            "get": {
                "summary": "Liveness",
                "security": [],
                "responses": {"200": {"description": "up"}},
            }
        },
        "/readyz": {
            "get": {
                "summary": "Readiness of Redis and TorchServe",
                "security": [],
                "responses": {
                    "200": {"description": "ready"},
                    "503": {"description": "a dependency is down"},
                },
            }
        },
        "/v1/jobs": {
            "post": {
                "summary": "Submit a training job",
                "requestBody": {"required": True, "content": json_content(ref("JobSpec"))},
                "responses": {
                    "202": {"description": "queued", "content": json_content(ref("JobAccepted"))},
                    **errors(400, 401, 413, 415, 503),
                },
            },
            "get": {
                "summary": "List jobs, newest first",
                "parameters": [
                    {
                        "name": "state",
                        "in": "query",
                        "schema": {
                            "type": "string",
                            "enum": ["queued", "running", "succeeded", "failed", "cancelled"],
                        },
                    },
                    {
                        "name": "offset",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 0, "maximum": 1000000},
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 100},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "a page of jobs",
                        "content": json_content(ref("JobList")),
                    },
                    **errors(400, 401, 503),
                },
            },
        },
        "/v1/jobs/{job_id}": {
            "parameters": [JOB_ID],
            "get": {
                "summary": "One job: progress, metrics, errors, served model",
                "responses": {
                    "200": {"description": "the job", "content": json_content(ref("JobPublic"))},
                    **errors(401, 404, 503),
                },
            },
            "delete": {
                "summary": "Cancel a job",
                "responses": {
                    "202": {
                        "description": "cancelled, or cancelling",
                        "content": json_content(ref("JobPublic")),
                    },
                    **errors(401, 404, 409, 503),
                },
            },
        },
        "/v1/jobs/{job_id}/metrics": {
            "parameters": [JOB_ID],
            "get": {
                "summary": "Evaluation metrics",
                "responses": {
                    "200": {
                        "description": "metrics.json",
                        "content": json_content({"type": "object"}),
                    },
                    **errors(401, 404, 503),
                },
            },
        },
        "/v1/jobs/{job_id}/loss.png": {
            "parameters": [JOB_ID],
            "get": {
                "summary": "Loss plot",
                "responses": {
                    "200": {"description": "PNG", "content": PNG},
                    **errors(401, 404, 503),
                },
            },
        },
        "/v1/jobs/{job_id}/samples.png": {
            "parameters": [JOB_ID],
            "get": {
                "summary": "Sample grid",
                "responses": {
                    "200": {"description": "PNG", "content": PNG},
                    **errors(401, 404, 503),
                },
            },
        },
        "/v1/models": {
            "get": {
                "summary": "Served generators",
                "responses": {
                    "200": {
                        "description": "models",
                        "content": json_content(
                            {
                                "type": "object",
                                "properties": {
                                    "models": {"type": "array", "items": ref("ModelPublic")}
                                },
                            }
                        ),
                    },
                    **errors(401, 503),
                },
            }
        },
        "/v1/models/{name}": {
            "parameters": [MODEL_NAME],
            "get": {
                "summary": "One served generator",
                "responses": {
                    "200": {
                        "description": "the model",
                        "content": json_content(ref("ModelPublic")),
                    },
                    **errors(401, 404, 503),
                },
            },
        },
        "/v1/models/{name}/generate": {
            "parameters": [MODEL_NAME, VERSION],
            "post": {
                "summary": "Images by class (JSON of PNGs, or a PNG grid for Accept: image/png)",
                "requestBody": {"required": True, "content": json_content(ref("GenerateRequest"))},
                "responses": {
                    "200": {
                        "description": "images",
                        "content": {**json_content({"type": "object"}), **PNG},
                    },
                    **errors(400, 401, 404, 413, 415, 503),
                },
            },
            "get": {
                "summary": "Images by class from query parameters; a PNG grid by default",
                "parameters": [
                    {"name": "n", "in": "query", "schema": {**integer, "minimum": 1}},
                    {"name": "label", "in": "query", "schema": integer},
                    {"name": "seed", "in": "query", "schema": {**integer, "maximum": 2**31 - 1}},
                    {
                        "name": "format",
                        "in": "query",
                        "schema": {"type": "string", "enum": ["grid", "json"]},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "images",
                        "content": {**PNG, **json_content({"type": "object"})},
                    },
                    **errors(400, 401, 404, 503),
                },
            },
        },
    }


@lru_cache(maxsize=1)
def openapi_spec() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in MODELS:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "GAN Foundry",
            "version": "1",
            "description": "Train the book's GANs as jobs; generate images by class.",
        },
        "paths": paths(),
        "components": {
            "schemas": schemas,
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"apiKey": []}],
    }
