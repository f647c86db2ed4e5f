"""One settings object per process, read from the environment (GANFOUNDRY_*) and checked at start.

``EnvSettings`` is the shared base: the GANFOUNDRY_ prefix, and ``to_env`` for child processes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from model_archive.client import TorchServeClient
from workers.engine.limits import DEFAULT_MAX_TOTAL_STEPS

DEFAULT_LONGEST_JOB_S = 6 * 3600


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names each variable and what is wrong."""


class EnvSettings(BaseSettings):
    """Settings from GANFOUNDRY_<FIELD> variables; unknown variables are ignored."""

    model_config = SettingsConfigDict(env_prefix="GANFOUNDRY_", extra="ignore", frozen=True)

    @classmethod
    def from_env(cls) -> Self:
        """Read and check the environment; a SettingsError names every bad variable."""
        try:
            return cls()
        except ValidationError as error:
            problems = "; ".join(
                f"GANFOUNDRY_{str(item['loc'][0]).upper()}: "
                + (
                    "is not set"
                    if item["type"] == "missing"
                    else item["msg"].removeprefix("Value error, ")
                )
                for item in error.errors()
            )
            raise SettingsError(f"{cls.__name__}: {problems}") from None

    def to_env(self) -> dict[str, str]:
        """The environment that makes the class read back these settings (for child processes);
        a setting left at None is left out, so that it reads back as None."""
        return {
            f"GANFOUNDRY_{name.upper()}": _env_value(value)
            for name, value in self.model_dump(mode="json").items()
            if value is not None
        }


def _env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(item) for item in value)
    return str(value)


class JobLimits(EnvSettings):
    """What bounds a job; the gateway checks them at submit, the workers while the job runs."""

    # the longest a job may run (its time_limit_s at most); the broker's visibility timeout exceeds it
    longest_job_s: int = Field(DEFAULT_LONGEST_JOB_S, ge=60)
    default_time_limit_s: int = Field(2 * 3600, ge=60)  # a job's time limit when its spec has none
    max_total_steps: int = Field(DEFAULT_MAX_TOTAL_STEPS, ge=1)  # optimizer steps of one job
    max_queued_per_key: int = Field(20, ge=1)  # jobs one API key may have queued or running


class ServingLimits(EnvSettings):
    """What bounds serving; the gateway checks them when asked, the workers when they serve."""

    max_served_models: int = Field(20, ge=1)  # names served at once (each holds a model worker)
    keep_versions: int = Field(3, ge=1)  # per name; older ones are unregistered, archives removed


class WorkerSettings(JobLimits, ServingLimits):
    redis_url: str = Field(min_length=1)  # broker, result backend and job records
    artifact_root: Path  # ARTIFACT_ROOT/jobs/<id>/ holds each job's outputs
    data_root: Path  # csv:, idx: and hdf5: datasets must lie under it
    model_store: Path  # TorchServe's model store (shared with the TorchServe service)
    torchserve_inference_url: str = Field(min_length=1)
    torchserve_management_url: str = Field(min_length=1)
    # TorchServe's key_file.json (management and inference keys); None: its token auth is off
    torchserve_key_file: Path | None = None
    progress_interval_s: float = Field(1.0, gt=0)  # at most one progress write per interval
    # a running job's heartbeat: its lock, renewed every quarter of this; once it lapses, the
    # reapers (one thread in every worker, every reap_interval_s) hand the job to the next worker
    heartbeat_s: float = Field(10.0, gt=0)
    reap_interval_s: float = Field(2.0, gt=0)
    reconcile_interval_s: float = Field(2.0, gt=0)  # TorchServe checked against the record
    max_worker_losses: int = Field(3, ge=1)  # deaths without a new checkpoint before it fails
    checkpoint_min_s: float = Field(5.0, ge=0)  # at most one checkpoint per this many seconds
    register_attempts: int = Field(20, ge=1)  # TorchServe tries: about 7.5 min with the backoff
    register_backoff_s: float = Field(1.0, gt=0)
    # /metrics for Prometheus from the worker process (workers/metrics.py); 0: none
    worker_metrics_port: int = Field(0, ge=0, le=65535)
    worker_metrics_bind: str = "127.0.0.1"  # compose: 0.0.0.0, on the internal network only

    def torchserve_client(self) -> TorchServeClient:
        """The workers' client: both APIs, with the keys of the key file."""
        return TorchServeClient(
            self.torchserve_inference_url,
            self.torchserve_management_url,
            key_file=self.torchserve_key_file,
        )

    def job_dir(self, job_id: str) -> Path:
        return self.artifact_root / "jobs" / job_id
