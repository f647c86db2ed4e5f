from __future__ import annotations

import pytest
from pydantic import ValidationError

from workers.spec import JobSpec, field_errors


def errors_of(payload: dict) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        JobSpec.model_validate(payload)
    return field_errors(caught.value)


def test_minimal_spec_gets_family_defaults() -> None:
    spec = JobSpec.model_validate({"model": "mnist-cgan"})
    assert spec.training.mode == "batched"
    assert spec.resolved_dataset().source == "builtin:mnist-sample"
    assert JobSpec(model="pattern-1010").resolved_dataset().source == "builtin:pattern-1010"


def test_unknown_fields_are_refused_with_their_path() -> None:
    errors = errors_of({"model": "mnist-gan", "training": {"epochz": 3}, "colour": "red"})
    assert "training.epochz" in errors
    assert "colour" in errors


@pytest.mark.parametrize(
    ("training", "field"),
    [
        ({"lr": 0}, "training.lr"),
        ({"lr": 5}, "training.lr"),
        ({"epochs": 0}, "training.epochs"),
        ({"epochs": 10_000}, "training.epochs"),
        ({"batch_size": 100_000}, "training.batch_size"),
        ({"seed": -1}, "training.seed"),
        ({"mode": "turbo"}, "training.mode"),
        ({"precision": "fp8"}, "training.precision"),
        ({"epochs": "many"}, "training.epochs"),
    ],
)
def test_out_of_range_training_values_name_the_field(training: dict, field: str) -> None:
    assert field in errors_of({"model": "mnist-gan", "training": training})


def test_unknown_model_and_sources_are_refused() -> None:
    assert "model" in errors_of({"model": "stylegan9"})
    assert "dataset.source" in errors_of({"model": "mnist-gan", "dataset": {"source": "s3://x"}})
    message = errors_of({"model": "mnist-gan", "dataset": {"source": "builtin:cifar"}})
    assert "builtin:mnist-sample" in message["dataset.source"]


def test_dataset_must_fit_the_model() -> None:
    errors = errors_of({"model": "pattern-1010", "dataset": {"source": "builtin:mnist-sample"}})
    assert "pattern-1010" in next(iter(errors.values()))
    errors = errors_of({"model": "mnist-gan", "dataset": {"source": "builtin:pattern-1010"}})
    assert "MNIST" in next(iter(errors.values()))


@pytest.mark.parametrize("name", ["Digits", "9lives", "a" * 64, "../etc", "dig its", ""])
def test_serve_as_names_are_restricted(name: str) -> None:
    assert "serve_as" in errors_of({"model": "mnist-cgan", "serve_as": name})


def test_spec_round_trips_through_json() -> None:
    spec = JobSpec.model_validate(
        {"model": "mnist-cgan", "training": {"epochs": 3, "lr": 0.001}, "serve_as": "digits"}
    )
    assert JobSpec.model_validate_json(spec.model_dump_json()) == spec
