"""The gateway's settings, read once from the environment (GANFOUNDRY_*)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


class SettingsError(ValueError):
    """A required setting is missing or malformed."""


@dataclass(frozen=True)
class GatewaySettings:
    redis_url: str
    api_keys: tuple[str, ...]  # Authorization: Bearer <one of these>
    torchserve_inference_url: str
    torchserve_management_url: str
    artifact_root: Path  # shared with the workers: loss plots, samples, metrics
    public_reads: bool = False  # True: reading jobs and models and generating need no key
    max_body_bytes: int = 64 * 1024
    max_images: int = 64  # the largest n one request may ask for
    backend_timeout_s: float = 0.5  # Redis and health probes: a 503 comes within a second
    generate_timeout_s: float = 10.0
    longest_job_s: int = 6 * 3600  # must match the workers' (the broker's visibility timeout)

    def to_env(self) -> dict[str, str]:
        """The environment that makes ``from_env`` return these settings (for child processes)."""
        return {
            "GANFOUNDRY_REDIS_URL": self.redis_url,
            "GANFOUNDRY_API_KEYS": ",".join(self.api_keys),
            "GANFOUNDRY_TORCHSERVE_INFERENCE_URL": self.torchserve_inference_url,
            "GANFOUNDRY_TORCHSERVE_MANAGEMENT_URL": self.torchserve_management_url,
            "GANFOUNDRY_ARTIFACT_ROOT": str(self.artifact_root),
            "GANFOUNDRY_PUBLIC_READS": "true" if self.public_reads else "false",
            "GANFOUNDRY_MAX_BODY_BYTES": str(self.max_body_bytes),
            "GANFOUNDRY_MAX_IMAGES": str(self.max_images),
            "GANFOUNDRY_GENERATE_TIMEOUT_S": str(self.generate_timeout_s),
            "GANFOUNDRY_LONGEST_JOB_S": str(self.longest_job_s),
        }

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GatewaySettings:
        source = os.environ if env is None else env

        def get(name: str, default: str | None = None) -> str:
            value = source.get(f"GANFOUNDRY_{name}", default or "").strip()
            if not value:
                raise SettingsError(f"GANFOUNDRY_{name} is not set")
            return value

        keys = tuple(k.strip() for k in get("API_KEYS").split(",") if k.strip())
        if any(len(k) < 16 for k in keys):
            raise SettingsError("GANFOUNDRY_API_KEYS: every key needs at least 16 characters")
        try:
            return cls(
                redis_url=get("REDIS_URL"),
                api_keys=keys,
                torchserve_inference_url=get("TORCHSERVE_INFERENCE_URL"),
                torchserve_management_url=get("TORCHSERVE_MANAGEMENT_URL"),
                artifact_root=Path(get("ARTIFACT_ROOT")),
                public_reads=get("PUBLIC_READS", "false").lower() in ("1", "true", "yes"),
                max_body_bytes=int(get("MAX_BODY_BYTES", str(64 * 1024))),
                max_images=int(get("MAX_IMAGES", "64")),
                generate_timeout_s=float(get("GENERATE_TIMEOUT_S", "10")),
                longest_job_s=int(get("LONGEST_JOB_S", str(6 * 3600))),
            )
        except ValueError as error:
            raise SettingsError(f"a numeric GANFOUNDRY_* setting is malformed ({error})") from None
