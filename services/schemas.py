"""Shapes of the REST API beside the contracts it shares (``workers.spec.JobSpec`` for jobs,
``model_archive.image_request.GenerateRequest`` for images): path and query parameters, answers
and the problem body. flask-openapi3 reads them from the views' signatures for /openapi.json.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.json_schema import SkipJsonSchema

from model_archive.image_request import GenerateRequest
from workers.records import Job, JobState, ServedModel
from workers.spec import SERVE_NAME_PATTERN

VERSION_PATTERN = r"^[0-9]{1,6}(\.[0-9]{1,6}){0,2}$"


class _Query(BaseModel):
    """Query parameters: unknown ones are refused, not ignored."""

    model_config = ConfigDict(extra="forbid")

    @classmethod
    @cache
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        # flask-openapi3 reads a query model's schema on every request (about 1 ms); it never changes
        return super().model_json_schema(*args, **kwargs)


# ---- path parameters: the patterns are documented, not enforced, so that an id or a name that
# cannot exist is a 404 like any other unknown one


class JobPath(BaseModel):
    job_id: str = Field(json_schema_extra={"pattern": "^[0-9a-f]{32}$"})


class ModelPath(BaseModel):
    name: str = Field(json_schema_extra={"pattern": SERVE_NAME_PATTERN})


class ModelVersionPath(ModelPath):
    version: str = Field(json_schema_extra={"pattern": VERSION_PATTERN})


# ---- query parameters


class JobQuery(_Query):
    state: JobState | None = Field(default=None, description="only jobs in this state")
    offset: int = Field(default=0, ge=0, le=1_000_000, description="jobs to skip, newest first")
    limit: int = Field(default=20, ge=1, le=100, description="jobs in the page")

    @field_validator("state", mode="before")
    @classmethod
    def _empty_is_any(cls, state: object) -> object:
        return state or None


class VersionQuery(_Query):
    version: str | None = Field(
        default=None,
        pattern=VERSION_PATTERN,
        description="a version of the model; the default one when left out",
    )


_CONTRACT = GenerateRequest.model_json_schema()["properties"]


def _checked_by_the_contract(name: str) -> Any:
    """An integer parameter; its range is the contract's (checked there, documented here)."""
    return Field(default=None, json_schema_extra=_CONTRACT[name])


class GenerateQuery(VersionQuery):
    """The generate request from query parameters (image i uses seed + i); a PNG grid by default."""

    n: int | None = _checked_by_the_contract("n")
    label: int | None = _checked_by_the_contract("label")
    seed: int | None = _checked_by_the_contract("seed")
    format: Literal["grid", "json"] = Field(
        default="grid", description="one PNG grid, or JSON of base64 PNGs"
    )

    def body(self) -> dict[str, Any]:
        """As the JSON body of the POST, for the contract to check against the model."""
        return self.model_dump(exclude_none=True, exclude={"version"})


# ---- answers


class JobAccepted(BaseModel):
    id: str
    state: JobState
    url: str = Field(description="the job's URL, also in the Location header")


class JobPublic(Job):
    """A job as users see it: the record, with artifact URLs instead of server paths."""

    artifacts: dict[str, str] | None = Field(default=None, description="URLs of the job's outputs")
    served: dict[str, Any] | None = Field(default=None, description="model name and version")
    owner: SkipJsonSchema[str | None] = Field(default=None, exclude=True)
    serve_as_owner: SkipJsonSchema[str | None] = Field(default=None, exclude=True)


class JobList(BaseModel):
    jobs: list[JobPublic]
    total: int
    offset: int
    limit: int


class ModelPublic(ServedModel):
    """A served generator: its versions (version → id of the job that trained it), classes and
    output shape."""

    owner: SkipJsonSchema[str | None] = Field(default=None, exclude=True)


class DefaultVersion(BaseModel):
    """Which version a name answers by default (roll back or forward)."""

    model_config = ConfigDict(extra="forbid")
    version: str = Field(pattern=VERSION_PATTERN, description="a recorded version of the model")


class ServeJob(BaseModel):
    """Serve a succeeded job's generator as a new version of a name (new or served already)."""

    model_config = ConfigDict(extra="forbid")
    job_id: str = Field(pattern="^[0-9a-f]{32}$", description="a succeeded job")
    name: str = Field(pattern=SERVE_NAME_PATTERN, description="the name to serve it under")
    default: bool = Field(default=True, description="make it the name's default once it is ready")


class ModelList(BaseModel):
    models: list[ModelPublic]


class Images(BaseModel):
    """The JSON answer of generate: base64 PNGs with the seeds that drew them."""

    # flask-openapi3 adds this to the 200 answer: the same request may answer one PNG grid
    model_config = ConfigDict(
        openapi_extra={  # type: ignore[typeddict-unknown-key]
            "description": "JSON of base64 PNGs, or one PNG grid (format 'grid' or Accept: image/png)",
            "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
        }
    )

    model: str
    family: str
    kind: Literal["images", "interpolate", "arithmetic"]
    seeds: list[int] = Field(description="one per image; the two endpoints for experiments")
    label: int | None
    shape: list[int] = Field(description="shape of one output, e.g. [1, 28, 28]")
    images: list[str] | None = Field(default=None, description="base64 PNGs")
    values: list[list[float]] | None = Field(
        default=None, description="the 1010 generator's four values per output, instead of images"
    )


class Problem(BaseModel):
    """An error (RFC 9457); ``code`` is stable, ``fields`` maps each bad input to what to change."""

    type: str = Field(default="about:blank", description="about:blank: status and code say it all")
    title: str = Field(description="the HTTP status phrase")
    status: int
    detail: str = Field(description="what went wrong and what to change")
    code: str = Field(
        description="bad_request, invalid_request, unauthorized, not_found, method_not_allowed, "
        "conflict, too_many_models, payload_too_large, unsupported_media_type, too_many_jobs, "
        "redis_unavailable, "
        "torchserve_unavailable, model_not_ready, model_server_error, internal_error"
    )
    instance: str | None = Field(default=None, description="the request's path")
    fields: dict[str, str] | None = Field(
        default=None, description="422 only: each bad field (dotted path) → what to change"
    )


# ---- API keys (admin)


class KeyPath(BaseModel):
    key_id: str = Field(json_schema_extra={"pattern": "^[0-9a-f]{16}$"})


class NewKey(BaseModel):
    """A key to issue: who it is for and what it may do."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(
        min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._@-]*$",
        description="who or what the key is for (letters, digits, space, . _ @ -)",
    )  # fmt: skip
    scopes: list[Literal["generate", "train", "metrics", "admin"]] = Field(
        min_length=1,
        max_length=4,
        description="generate: models and images; train: own jobs and served names; "
        "metrics: read /metrics; admin: all",
    )


class KeyInfo(BaseModel):
    id: str = Field(description="the key's id: its fingerprint, the owner of what it made")
    name: str
    scopes: list[str]
    created_at: float


class IssuedKey(KeyInfo):
    key: str = Field(description="the key itself: shown this once, never stored")


class KeyList(BaseModel):
    keys: list[KeyInfo]
