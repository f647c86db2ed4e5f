"""Engine fixtures: small trained generators shared by several test modules."""

from __future__ import annotations

import pytest

from workers.engine.data import builtin_mnist_sample
from workers.engine.pipeline import JobOutcome, run_job
from workers.spec import JobSpec


@pytest.fixture(scope="session")
def mnist_sample():  # type: ignore[no-untyped-def]
    return builtin_mnist_sample()


@pytest.fixture(scope="session")
def trained_cgan(tmp_path_factory: pytest.TempPathFactory) -> JobOutcome:
    """A short, seeded batched run of mnist-cgan on the built-in digits, fully evaluated."""
    spec = JobSpec(model="mnist-cgan", training={"epochs": 60, "seed": 0})
    return run_job(spec, tmp_path_factory.mktemp("cgan"))


@pytest.fixture(scope="session")
def collapsed_v1(tmp_path_factory: pytest.TempPathFactory) -> JobOutcome:
    """mnist-gan-v1 in book mode: the book's mode-collapse demonstration."""
    spec = JobSpec(
        model="mnist-gan-v1",
        dataset={"source": "builtin:mnist-sample", "limit": 2000},
        training={"mode": "book", "epochs": 1},
    )
    return run_job(spec, tmp_path_factory.mktemp("v1"))
