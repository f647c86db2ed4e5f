"""The local stack's settings, ports and state file: what the CLI client reads without loading the
launchers (which import Celery)."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, fields
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.stack.processes import alive, free_port


@dataclass(frozen=True)
class StackPorts:
    gateway: int = 8000
    redis: int = 6380  # not 6379: leave a system Redis alone
    inference: int = 8080
    management: int = 8081
    metrics: int = 8082
    grpc_inference: int = 7070  # unused by the project, but TorchServe binds them
    grpc_management: int = 7071
    worker_metrics: int = 9101  # the worker's /metrics (workers/metrics.py)

    @classmethod
    def free(cls) -> StackPorts:
        """Every port free right now: a private stack beside any other."""
        return cls(**{field.name: free_port() for field in fields(cls)})


STATE_FILE = "state.json"


class StackSettings(BaseSettings):
    """Where the local stack lives and which loopback ports it takes (GANFOUNDRY_*)."""

    model_config = SettingsConfigDict(env_prefix="GANFOUNDRY_", extra="ignore")

    run_dir: Path = Path("runs/stack")
    gateway_port: int = Field(8000, ge=1, le=65535)
    redis_port: int = Field(6380, ge=1, le=65535)  # not 6379: leave a system Redis alone
    inference_port: int = Field(8080, ge=1, le=65535)
    management_port: int = Field(8081, ge=1, le=65535)
    metrics_port: int = Field(8082, ge=1, le=65535)
    grpc_inference_port: int = Field(7070, ge=1, le=65535)
    grpc_management_port: int = Field(7071, ge=1, le=65535)
    worker_metrics_port: int = Field(9101, ge=1, le=65535)

    @field_validator("run_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.resolve()

    @property
    def ports(self) -> StackPorts:
        return StackPorts(
            self.gateway_port,
            self.redis_port,
            self.inference_port,
            self.management_port,
            self.metrics_port,
            self.grpc_inference_port,
            self.grpc_management_port,
            self.worker_metrics_port,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"


@dataclass
class StackState:
    url: str
    api_key_file: str
    pids: dict[str, int]  # service → process (group) id, in start order

    def alive(self) -> dict[str, bool]:
        return {name: alive(pid) for name, pid in self.pids.items()}


def read_state(run_dir: Path) -> StackState | None:
    path = run_dir / STATE_FILE
    if not path.is_file():
        return None
    return StackState(**json.loads(path.read_text()))


def api_key(run_dir: Path) -> str:
    """The stack's API key: made once, kept in the run folder (mode 0600)."""
    path = run_dir / "api-key"
    if not path.is_file():
        run_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(24))
        path.chmod(0o600)
    return path.read_text().strip()
