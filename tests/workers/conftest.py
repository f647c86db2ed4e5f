"""Fixtures for the workers' tests; Redis comes from tests/conftest.py."""

from pathlib import Path
from typing import Any

from workers.settings import WorkerSettings


def settings_for(tmp_path: Path, **overrides: Any) -> WorkerSettings:
    """A worker's settings for unit tests: everything under ``tmp_path``, no server reached."""
    return WorkerSettings(
        redis_url="redis://unused",
        artifact_root=tmp_path,
        data_root=tmp_path,
        model_store=tmp_path,
        torchserve_inference_url="http://127.0.0.1:9",
        torchserve_management_url="http://127.0.0.1:9",
        **overrides,
    )
