"""What a client may ask a served generator for: one contract for the gateway and the handler.

    {"n": 16, "label": 7, "seed": 42, "format": "json" | "grid"}
    {"label": 3, "experiment": {"kind": "interpolate", "seeds": [1, 2], "steps": 12}}
    {"experiment": {"kind": "arithmetic", "seeds": [1, 2]}}          # a, b, a + b, a - b

What depends on the model comes from the validation context: ``GenerateRequest.model_validate(
body, context={"num_classes": 10, "class_names": [...], "max_images": 64})`` requires, refuses or
range-checks the label and caps n; without a context only the fixed limits apply. Packed into every
archive beside the handler with ``limits.py`` and ``problems.py``; imports pydantic and those only.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

if __package__:
    from model_archive.problems import field_errors, problem, summary
    from workers.engine.limits import (
        ARITHMETIC_IMAGES,
        DEFAULT_STEPS,
        MAX_IMAGES,
        MAX_SEED,
        MAX_STEPS,
        MIN_STEPS,
    )
else:  # inside a TorchServe archive the modules lie side by side, outside any package
    from limits import (  # type: ignore[no-redef,attr-defined]
        ARITHMETIC_IMAGES,
        DEFAULT_STEPS,
        MAX_IMAGES,
        MAX_SEED,
        MAX_STEPS,
        MIN_STEPS,
    )
    from problems import field_errors, problem, summary  # type: ignore[no-redef]

Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]


class _Strict(BaseModel):
    # JSON integers only: "3", 2.0 and true are refused, not converted
    model_config = ConfigDict(extra="forbid", strict=True)


class Experiment(_Strict):
    """The book's seed experiments."""

    kind: Literal["interpolate", "arithmetic"] = Field(
        description="interpolate: frames from seeds[0] to seeds[1]; arithmetic: a, b, a + b, a - b"
    )
    seeds: list[Seed] = Field(min_length=2, max_length=2, description=f"two seeds, 0-{MAX_SEED}")
    steps: int | None = Field(
        default=None,
        ge=MIN_STEPS,
        le=MAX_STEPS,
        description=f"interpolation frames, both ends included; {DEFAULT_STEPS} by default",
    )

    @field_validator("steps")
    @classmethod
    def _interpolation_only(cls, steps: int | None, info: ValidationInfo) -> int | None:
        if steps is not None and info.data.get("kind") == "arithmetic":
            raise ValueError("only interpolation takes steps")
        return steps


class GenerateRequest(_Strict):
    """Images from a served generator; image i uses seed + i."""

    n: int | None = Field(
        default=None,
        ge=1,
        le=MAX_IMAGES,
        description="number of images, 1 by default; at most the gateway's GANFOUNDRY_MAX_IMAGES "
        "(64 by default) and the model's max_images",
    )
    label: int | None = Field(
        default=None,
        ge=0,
        validate_default=True,  # so that a missing label is checked against the model too
        description="the class to draw: required for a conditional model, refused otherwise",
    )
    seed: Seed | None = Field(
        default=None, description="drawn at random (and returned) when left out"
    )
    format: Literal["json", "grid"] = Field(
        default="json", description="JSON of base64 PNGs with their seeds, or one PNG grid"
    )
    experiment: Experiment | None = Field(
        default=None, description="instead of n and seed: interpolation or seed arithmetic"
    )

    @field_validator("n")
    @classmethod
    def _at_most_the_models_limit(cls, n: int | None, info: ValidationInfo) -> int | None:
        limit = (info.context or {}).get("max_images")
        if n is not None and limit is not None and n > limit:
            raise ValueError(f"{n} is out of range: use 1-{limit}")
        return n

    @field_validator("label")
    @classmethod
    def _one_of_the_models_classes(cls, label: int | None, info: ValidationInfo) -> int | None:
        context = info.context or {}
        classes = context.get("num_classes")
        if classes is None:
            return label
        if classes == 0 and label is not None:
            raise ValueError("this generator is unconditional: leave out 'label'")
        if classes and label is None:
            names = context.get("class_names") or []
            named = any(name != str(i) for i, name in enumerate(names))  # not just "0".."9"
            listed = (
                f" ({', '.join(f'{i}={name}' for i, name in enumerate(names))})" if named else ""
            )
            raise ValueError(f"required: this generator draws classes 0-{classes - 1}{listed}")
        if label is not None and label >= classes:
            raise ValueError(f"{label} is out of range: use 0-{classes - 1}")
        return label

    @field_validator("experiment")
    @classmethod
    def _takes_its_own_seeds(
        cls, experiment: Experiment | None, info: ValidationInfo
    ) -> Experiment | None:
        if experiment is not None and (
            info.data.get("n") is not None or info.data.get("seed") is not None
        ):
            raise ValueError("an experiment takes its own seeds: leave out 'n' and 'seed'")
        return experiment

    def payload(self) -> dict[str, Any]:
        """The request as JSON, without what was left out (for the model server)."""
        return self.model_dump(exclude_none=True)

    def plan(self, rng: random.Random | None = None) -> ImagePlan:
        """Which latents to draw; a missing seed is drawn here (and reported back)."""
        if self.experiment is not None:
            kind, seeds = self.experiment.kind, list(self.experiment.seeds)
            steps = (self.experiment.steps or DEFAULT_STEPS) if kind == "interpolate" else 0
            return ImagePlan(kind, seeds, self.label, self.format, steps)
        first = self.seed
        if first is None:
            first = (rng or random.SystemRandom()).randint(0, MAX_SEED)
        return ImagePlan("images", [first + i for i in range(self.n or 1)], self.label, self.format)


@dataclass(frozen=True)
class ImagePlan:
    """A checked request: which latents to draw and how to answer."""

    kind: str  # "images", "interpolate" or "arithmetic"
    seeds: list[int]  # one per image for "images"; the two endpoints for experiments
    label: int | None
    response: str  # "json" or "grid"
    steps: int = 0  # interpolation only

    @property
    def count(self) -> int:
        if self.kind == "images":
            return len(self.seeds)
        return self.steps if self.kind == "interpolate" else ARITHMETIC_IMAGES

    @property
    def columns(self) -> int:
        """Grid width: experiments in fours (the book's 3x4); up to 10 images in one row."""
        if self.kind != "images":
            return 4
        return self.count if self.count <= 10 else 8


class RequestError(ValueError):
    """A request that cannot be served; ``fields`` maps each bad field to what to change."""

    def __init__(
        self, message: str, fields: dict[str, str] | None = None, code: str = "invalid_request"
    ) -> None:
        super().__init__(message)
        self.fields = fields or {}
        self.code = code

    def to_problem(self, status: int = 400) -> dict[str, Any]:
        return problem(status, self.code, str(self), self.fields)


def decode_body(body: object) -> object:
    """TorchServe hands over a dict (JSON content type), bytes or text; return the parsed JSON."""
    if isinstance(body, (bytes, bytearray)):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            raise RequestError("the request body is not UTF-8 JSON", code="bad_request") from None
    if isinstance(body, str):
        try:
            return json.loads(body) if body.strip() else {}
        except json.JSONDecodeError as error:
            raise RequestError(
                f"the request body is not valid JSON ({error.msg})", code="bad_request"
            ) from None
        except RecursionError:
            raise RequestError(
                "the request body is not valid JSON (nested too deeply)", code="bad_request"
            ) from None
    return body


def parse_request(
    body: object,
    num_classes: int,
    max_images: int,
    rng: random.Random | None = None,
    class_names: list[str] | None = None,
) -> ImagePlan:
    """Validate one request against a model; every problem is reported with its field."""
    payload = decode_body(body)
    if not isinstance(payload, dict):
        raise RequestError(
            'the request body must be a JSON object, e.g. {"n": 4, "label": 7}', code="bad_request"
        )
    context = {"num_classes": num_classes, "class_names": class_names, "max_images": max_images}
    try:
        request = GenerateRequest.model_validate(payload, context=context)
    except ValidationError as error:
        fields = field_errors(error)
        raise RequestError(summary(fields), fields) from None
    return request.plan(rng)
