"""The gateway's settings, read once from the environment (GANFOUNDRY_*) and checked at start."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from limits import parse
from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode

from workers.engine.limits import GATEWAY_MAX_IMAGES, MAX_IMAGES
from workers.settings import JobLimits, ServingLimits

# what people leave in a copied example file instead of a key
PLACEHOLDER = re.compile(r"change.?me|example|placeholder|your.?(api.?)?key|secret|^(.)\2*$", re.I)


def check_limit_text(text: str) -> str:
    """A rate limit such as '600/minute' (limits' notation), refused when it does not parse."""
    try:
        parse(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a rate limit: write it as '<count>/<second|minute|hour|day>', "
            "e.g. '600/minute'"
        ) from None
    return text


class GatewaySettings(JobLimits, ServingLimits):
    redis_url: str = Field(min_length=1)
    # Authorization: Bearer <one of these>; GANFOUNDRY_API_KEYS is comma-separated
    api_keys: Annotated[tuple[str, ...], NoDecode] = Field(min_length=1)
    # keys that may read /metrics and nothing else (a Prometheus scraper's), comma-separated
    metrics_keys: Annotated[tuple[str, ...], NoDecode] = ()
    # the inference API only: the management API is the workers' (and unreachable from here)
    torchserve_inference_url: str = Field(min_length=1)
    # TorchServe's key_file.json, for its inference key; None: its token auth is off
    torchserve_key_file: Path | None = None
    artifact_root: Path  # shared with the workers: loss plots, samples, metrics
    public_reads: bool = False  # True: reading jobs and models and generating need no key
    max_body_bytes: int = Field(64 * 1024, ge=1024)
    max_images: int = Field(GATEWAY_MAX_IMAGES, ge=1, le=MAX_IMAGES)  # the largest n per request
    backend_timeout_s: float = Field(0.5, gt=0)  # Redis and health probes: a 503 within a second
    generate_timeout_s: float = Field(10.0, gt=0)
    # calls per key and scope (services/limits.py), in limits' notation: <count>/<period>
    rate_limits: bool = True
    rate_limit_generate: str = "600/minute"
    rate_limit_train: str = "120/minute"
    rate_limit_admin: str = "600/minute"
    rate_limit_metrics: str = "60/minute"  # a scraper every 15 s needs 4
    rate_limit_anonymous: str = "60/minute"  # per client address: calls without a valid key
    images_per_minute: int = Field(6000, ge=1)  # per key, images made

    @field_validator(
        "rate_limit_generate",
        "rate_limit_train",
        "rate_limit_admin",
        "rate_limit_metrics",
        "rate_limit_anonymous",
    )
    @classmethod
    def _rate_limit(cls, text: str) -> str:
        return check_limit_text(text)

    @model_validator(mode="after")
    def _room_for_one_request(self) -> GatewaySettings:
        if self.images_per_minute < self.max_images:
            raise ValueError(
                f"GANFOUNDRY_IMAGES_PER_MINUTE ({self.images_per_minute}) is below "
                f"GANFOUNDRY_MAX_IMAGES ({self.max_images}): the largest request could never pass"
            )
        return self

    @field_validator("api_keys", "metrics_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(key.strip() for key in value.split(",") if key.strip())
        return value

    @field_validator("api_keys", "metrics_keys")
    @classmethod
    def _long_keys(cls, keys: tuple[str, ...]) -> tuple[str, ...]:
        if any(len(key) < 16 for key in keys):
            raise ValueError("every key needs at least 16 characters")
        if any(PLACEHOLDER.search(key) for key in keys):
            raise ValueError(
                "a key is a placeholder, not a key; make one with: "
                'python3 -c "import secrets; print(secrets.token_urlsafe(32))"'
            )
        return keys
