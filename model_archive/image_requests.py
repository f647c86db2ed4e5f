"""What a client may ask a served generator for, checked before any tensor is made.

Packed into every archive beside the handler; imports nothing outside the standard library.

    {"n": 16, "label": 7, "seed": 42, "format": "json" | "grid"}
    {"label": 3, "experiment": {"kind": "interpolate", "seeds": [1, 2], "steps": 12}}
    {"experiment": {"kind": "arithmetic", "seeds": [1, 2]}}          # a, b, a + b, a - b
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

MAX_SEED = 2**31 - 1
MAX_STEPS = 64
FIELDS = {"n", "label", "seed", "format", "experiment"}
EXPERIMENT_FIELDS = {"kind", "seeds", "steps"}


class RequestError(ValueError):
    """A request that cannot be served; ``fields`` maps each bad field to what to change."""

    def __init__(self, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.fields = fields or {}

    def to_json(self) -> dict[str, Any]:
        return {"error": {"code": "bad_request", "message": str(self), "fields": self.fields}}


@dataclass(frozen=True)
class ImageRequest:
    """A checked request: which latents to draw and how to answer."""

    kind: str  # "images", "interpolate" or "arithmetic"
    seeds: list[int]  # one per image for "images"; the two endpoints for experiments
    label: int | None
    response: str  # "json" or "grid"
    steps: int = 0  # interpolation only
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def count(self) -> int:
        if self.kind == "images":
            return len(self.seeds)
        return self.steps if self.kind == "interpolate" else 4

    @property
    def columns(self) -> int:
        """Grid width: experiments in fours (the book's 3x4); up to 10 images in one row."""
        if self.kind != "images":
            return 4
        return self.count if self.count <= 10 else 8


def decode_body(body: object) -> dict[str, Any]:
    """TorchServe hands over a dict (JSON content type), bytes or text; return the JSON object."""
    if isinstance(body, dict):
        return body
    if isinstance(body, (bytes, bytearray)):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            raise RequestError("the request body is not UTF-8 JSON") from None
    if isinstance(body, str):
        try:
            body = json.loads(body) if body.strip() else {}
        except json.JSONDecodeError as error:
            raise RequestError(f"the request body is not valid JSON ({error.msg})") from None
    if not isinstance(body, dict):
        raise RequestError('the request body must be a JSON object, e.g. {"n": 4, "label": 7}')
    return body


def parse_request(
    body: object, num_classes: int, max_images: int, rng: random.Random | None = None
) -> ImageRequest:
    """Validate one request; every problem is reported with the field it concerns."""
    payload = decode_body(body)
    problems: dict[str, str] = {}
    for unknown in sorted(set(payload) - FIELDS):
        problems[unknown] = f"unknown field; use {', '.join(sorted(FIELDS))}"
    label = _label(payload, num_classes, problems)
    response = payload.get("format", "json")
    if response not in ("json", "grid"):
        problems["format"] = "must be 'json' or 'grid'"
    experiment = payload.get("experiment")
    if experiment is not None:
        if "n" in payload or "seed" in payload:
            problems["experiment"] = "an experiment takes its own seeds: leave out 'n' and 'seed'"
        request = _experiment(experiment, label, response, problems)
    else:
        n = _integer(payload, "n", 1, max_images, problems, default=1)
        first = _integer(payload, "seed", 0, MAX_SEED, problems, default=None)
        if first is None:
            first = (rng or random.SystemRandom()).randint(0, MAX_SEED)
        request = ImageRequest("images", [first + i for i in range(n or 1)], label, response)
    if problems:
        raise RequestError(
            "invalid request: " + "; ".join(f"{k}: {v}" for k, v in problems.items()), problems
        )
    return request


def _label(payload: dict[str, Any], num_classes: int, problems: dict[str, str]) -> int | None:
    if num_classes == 0:
        if "label" in payload:
            problems["label"] = "this generator is unconditional: leave out 'label'"
        return None
    if "label" not in payload:
        problems["label"] = f"required: this generator draws classes 0-{num_classes - 1}"
        return None
    return _integer(payload, "label", 0, num_classes - 1, problems, default=None)


def _integer(
    payload: dict[str, Any],
    name: str,
    low: int,
    high: int,
    problems: dict[str, str],
    default: int | None,
) -> int | None:
    if name not in payload:
        return default
    value = payload[name]
    if isinstance(value, bool) or not isinstance(value, int):
        problems[name] = f"must be an integer from {low} to {high}"
        return default
    if not low <= value <= high:
        problems[name] = f"{value} is out of range: use {low}-{high}"
        return default
    return value


def _experiment(
    experiment: object, label: int | None, response: str, problems: dict[str, str]
) -> ImageRequest:
    fallback = ImageRequest("images", [0], label, response)
    if not isinstance(experiment, dict):
        problems["experiment"] = 'must be an object like {"kind": "interpolate", "seeds": [1, 2]}'
        return fallback
    for unknown in sorted(set(experiment) - EXPERIMENT_FIELDS):
        problems[f"experiment.{unknown}"] = "unknown field; use kind, seeds, steps"
    kind = experiment.get("kind")
    seeds = experiment.get("seeds")
    if kind not in ("interpolate", "arithmetic"):
        problems["experiment.kind"] = "must be 'interpolate' or 'arithmetic'"
    if (
        not isinstance(seeds, list)
        or len(seeds) != 2
        or any(
            isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= MAX_SEED for s in seeds
        )
    ):
        problems["experiment.seeds"] = f"must be two integer seeds from 0 to {MAX_SEED}"
        return fallback
    if kind == "interpolate":
        inner: dict[str, str] = {}
        steps = _integer(experiment, "steps", 2, MAX_STEPS, inner, default=12) or 12
        problems.update({f"experiment.{key}": value for key, value in inner.items()})
        return ImageRequest("interpolate", list(seeds), label, response, steps)
    if "steps" in experiment:
        problems["experiment.steps"] = "only interpolation takes steps"
    return ImageRequest("arithmetic", list(seeds), label, response)
