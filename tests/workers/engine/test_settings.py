from __future__ import annotations

from pathlib import Path

import pytest
import torch
from pydantic import ValidationError

from workers.engine.evaluator import cache_dir
from workers.engine.plan import PlanError, make_plan
from workers.engine.runtime import configure_threads
from workers.spec import JobSpec


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


def test_the_steps_ceiling_is_enforced_once_the_data_size_is_known(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = JobSpec(model="mnist-gan", training={"epochs": 3, "batch_size": 10})
    assert make_plan(spec, train_size=1000).total_steps == 300
    monkeypatch.setenv("GANFOUNDRY_MAX_TOTAL_STEPS", "299")
    with pytest.raises(PlanError, match=r"would train 300 optimizer steps.*allows 299"):
        make_plan(spec, train_size=1000)
