"""What the engine reads from the environment (GANFOUNDRY_*), checked when it is read.

The engine imports nothing above it, so it has its own small settings class; the worker's and
the gateway's are in ``workers.settings`` and ``services.settings``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from workers.engine.limits import DEFAULT_MAX_TOTAL_STEPS


class EngineSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GANFOUNDRY_", extra="ignore", frozen=True)

    torch_threads: int = Field(0, ge=0, le=4096)  # 0: one per core this process may use
    cache: Path = Field(default_factory=lambda: Path.home() / ".cache" / "ganfoundry")
    max_total_steps: int = Field(DEFAULT_MAX_TOTAL_STEPS, ge=1)  # as the gateway's, one variable


def engine_settings() -> EngineSettings:
    """Read now (not at import), so a process or a test may set the variables first."""
    return EngineSettings()
