"""Request and response shapes of the REST API: they validate input and generate /openapi.json."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_SEED = 2**31 - 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Experiment(_Strict):
    """The book's seed experiments."""

    kind: Literal["interpolate", "arithmetic"]
    seeds: list[int] = Field(min_length=2, max_length=2, description="two seeds, 0..2^31-1")
    steps: int | None = Field(
        default=None, ge=2, le=64, description="interpolation only; 12 by default"
    )

    @model_validator(mode="after")
    def _check(self) -> Experiment:
        if any(not 0 <= s <= MAX_SEED for s in self.seeds):
            raise ValueError("seeds must lie in 0..2147483647")
        if self.kind == "arithmetic" and self.steps is not None:
            raise ValueError("only interpolation takes steps")
        return self


class GenerateRequest(_Strict):
    """Images from a served generator; image i uses seed + i."""

    n: int | None = Field(
        default=None,
        ge=1,
        description="number of images (default 1; at most GANFOUNDRY_MAX_IMAGES, 64)",
    )
    label: int | None = Field(
        default=None, ge=0, description="class; required for conditional models"
    )
    seed: int | None = Field(
        default=None, ge=0, le=MAX_SEED, description="drawn at random when left out"
    )
    format: Literal["json", "grid"] = Field(
        default="json", description="JSON of PNGs, or one PNG grid"
    )
    experiment: Experiment | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> GenerateRequest:
        if self.experiment is not None and (self.n is not None or self.seed is not None):
            raise ValueError("an experiment takes its own seeds: leave out 'n' and 'seed'")
        return self

    def payload(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class JobAccepted(BaseModel):
    id: str
    state: str
    url: str


class JobPublic(BaseModel):
    id: str
    state: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    spec: dict[str, Any]
    created_at: float
    updated_at: float
    started_at: float | None = None
    finished_at: float | None = None
    attempts: int = 0
    progress: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None
    artifacts: dict[str, str] | None = Field(default=None, description="URLs of the job's outputs")
    served: dict[str, Any] | None = Field(default=None, description="model name and version")


class JobList(BaseModel):
    jobs: list[JobPublic]
    total: int
    offset: int
    limit: int


class ModelPublic(BaseModel):
    name: str
    default_version: str
    versions: dict[str, str] = Field(description="version → id of the job that trained it")
    family: str
    num_classes: int
    class_names: list[str]
    latent_size: int
    output_shape: list[int]


class ErrorBody(BaseModel):
    code: str
    message: str
    fields: dict[str, str] | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody
