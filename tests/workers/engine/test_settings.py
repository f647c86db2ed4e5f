from __future__ import annotations

from pathlib import Path

import pytest
import torch
from pydantic import ValidationError

from workers.engine.evaluator import cache_dir
from workers.engine.runtime import configure_threads


def test_threads_and_cache_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    before = torch.get_num_threads()
    monkeypatch.setenv("GANFOUNDRY_TORCH_THREADS", "1")
    monkeypatch.setenv("GANFOUNDRY_CACHE", str(tmp_path))
    try:
        assert configure_threads() == 1 and torch.get_num_threads() == 1
        assert cache_dir() == tmp_path
    finally:
        torch.set_num_threads(before)


def test_a_malformed_thread_count_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GANFOUNDRY_TORCH_THREADS", "many")
    with pytest.raises(ValidationError, match="torch_threads"):
        configure_threads()
