"""One settings object per worker process, read from the environment (GANFOUNDRY_*)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_LONGEST_JOB_S = 6 * 3600


class SettingsError(ValueError):
    """A required setting is missing or malformed."""


@dataclass(frozen=True)
class WorkerSettings:
    redis_url: str  # broker, result backend and job records
    artifact_root: Path  # ARTIFACT_ROOT/jobs/<id>/ holds each job's outputs
    data_root: Path  # csv:, idx: and hdf5: datasets must lie under it
    model_store: Path  # TorchServe's model store (shared with the TorchServe service)
    torchserve_inference_url: str
    torchserve_management_url: str
    progress_interval_s: float = 1.0  # at most one progress write per interval
    lock_lease_s: float = 30.0  # a dead worker's job is free again after this
    register_attempts: int = 20  # TorchServe registration tries: about 7.5 min with the backoff
    register_backoff_s: float = 1.0
    longest_job_s: int = DEFAULT_LONGEST_JOB_S  # the broker's visibility timeout exceeds this

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WorkerSettings:
        source = os.environ if env is None else env

        def required(name: str) -> str:
            value = source.get(f"GANFOUNDRY_{name}", "").strip()
            if not value:
                raise SettingsError(f"GANFOUNDRY_{name} is not set")
            return value

        def number(name: str, default: float) -> float:
            raw = source.get(f"GANFOUNDRY_{name}")
            try:
                return float(raw) if raw else default
            except ValueError:
                raise SettingsError(f"GANFOUNDRY_{name}={raw!r} is not a number") from None

        return cls(
            redis_url=required("REDIS_URL"),
            artifact_root=Path(required("ARTIFACT_ROOT")),
            data_root=Path(required("DATA_ROOT")),
            model_store=Path(required("MODEL_STORE")),
            torchserve_inference_url=required("TORCHSERVE_INFERENCE_URL"),
            torchserve_management_url=required("TORCHSERVE_MANAGEMENT_URL"),
            progress_interval_s=number("PROGRESS_INTERVAL_S", 1.0),
            lock_lease_s=number("LOCK_LEASE_S", 30.0),
            register_attempts=int(number("REGISTER_ATTEMPTS", 20)),
            register_backoff_s=number("REGISTER_BACKOFF_S", 1.0),
            longest_job_s=int(number("LONGEST_JOB_S", DEFAULT_LONGEST_JOB_S)),
        )

    def to_env(self) -> dict[str, str]:
        """The environment that makes ``from_env`` return these settings (for child processes)."""
        return {
            "GANFOUNDRY_REDIS_URL": self.redis_url,
            "GANFOUNDRY_ARTIFACT_ROOT": str(self.artifact_root),
            "GANFOUNDRY_DATA_ROOT": str(self.data_root),
            "GANFOUNDRY_MODEL_STORE": str(self.model_store),
            "GANFOUNDRY_TORCHSERVE_INFERENCE_URL": self.torchserve_inference_url,
            "GANFOUNDRY_TORCHSERVE_MANAGEMENT_URL": self.torchserve_management_url,
            "GANFOUNDRY_PROGRESS_INTERVAL_S": str(self.progress_interval_s),
            "GANFOUNDRY_LOCK_LEASE_S": str(self.lock_lease_s),
            "GANFOUNDRY_REGISTER_ATTEMPTS": str(self.register_attempts),
            "GANFOUNDRY_REGISTER_BACKOFF_S": str(self.register_backoff_s),
            "GANFOUNDRY_LONGEST_JOB_S": str(self.longest_job_s),
        }

    def job_dir(self, job_id: str) -> Path:
        return self.artifact_root / "jobs" / job_id
