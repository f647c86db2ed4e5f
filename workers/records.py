"""What lives in Redis, typed: a training job's record and a served model's record.

Imports pydantic only (the gateway shares it). Every field of a Redis hash holds the JSON of that
field's value (``encode``/``decode``), so each record is written and read back one way.
"""

from __future__ import annotations

import json
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

JobState = Literal["queued", "running", "succeeded", "failed", "cancelled"]
STATES: tuple[JobState, ...] = get_args(JobState)
FINAL: frozenset[JobState] = frozenset({"succeeded", "failed", "cancelled"})


class ModelMeta(BaseModel):
    """What a client needs to ask a served generator for images."""

    family: str
    num_classes: int = Field(ge=0)  # 0: unconditional
    class_names: list[str]
    latent_size: int = Field(ge=1)
    output_shape: list[int]


class Job(BaseModel):
    """One training job: its spec, where it stands, and what it produced."""

    model_config = ConfigDict(validate_assignment=True)

    id: str = Field(pattern=r"^[0-9a-f]{32}$")
    spec: dict[str, Any]
    state: JobState
    created_at: float
    updated_at: float
    started_at: float | None = None
    finished_at: float | None = None
    attempts: int = 0
    progress: dict[str, Any] | None = None
    error: dict[str, Any] | None = None  # {"code", "message"}
    metrics: dict[str, Any] | None = None
    artifacts: dict[str, Any] | None = None  # name → path under the artifact root
    # while training: the latest loss series, loss plot and sample grid (paths) and their step
    live: dict[str, Any] | None = None
    served: dict[str, Any] | None = None  # {"name", "version", "archive"}
    # workers that died running it: {"count", "strikes" (deaths since its last new checkpoint),
    # "checkpoint_step", "at"}; a job handed back by a stopping worker: {"handed_back_at"}
    losses: dict[str, Any] | None = None
    owner: str | None = None  # the fingerprint of the API key that submitted it
    # who served spec.serve_as when the gateway accepted the job (None: nobody); checked again
    # when the job publishes, since another key may have taken the name meanwhile
    serve_as_owner: str | None = None
    request_id: str | None = None  # of the request that submitted it, in the worker's logs too
    model: ModelMeta | None = None  # what its generator draws, once it succeeded (to serve later)

    @property
    def finished(self) -> bool:
        return self.state in FINAL

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class Archive(BaseModel):
    """A version's ``.mar`` in the model store, as it was when recorded."""

    file: str = Field(pattern=r"^[a-z][a-z0-9-]{0,62}\.v[0-9.]+\.mar$")  # a name, never a path
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    created_at: float


class ServingState(BaseModel):
    """How serving a version stands: loading, ready, or unavailable (and why)."""

    state: Literal["loading", "ready", "unavailable"]
    reason: str | None = None
    at: float


class ServedModel(ModelMeta):
    """A served name: its versions (version → id of the job that trained it), the default, and
    each version's serving state."""

    name: str
    default_version: str
    versions: dict[str, str]
    serving: dict[str, ServingState] = Field(default_factory=dict)
    # a version that becomes the default once it is ready (served later from a job)
    pending_default: str | None = None
    owner: str | None = None  # the id of the key that first served the name (workers/keys.py)


def encode(values: dict[str, Any]) -> dict[str, str]:
    """Hash fields for Redis: the JSON of each value."""
    return {name: json.dumps(value) for name, value in values.items()}


def decode(raw: dict[str, str]) -> dict[str, Any]:
    """The values of a hash written by ``encode``."""
    return {name: json.loads(value) for name, value in raw.items()}
