from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from workers.engine.evaluation import class_coverage, frechet_distance, label_accuracy
from workers.engine.evaluator import get_evaluator
from workers.engine.pipeline import JobOutcome


def test_coverage_of_a_single_class_is_severe_collapse() -> None:
    report = class_coverage(torch.full((1000,), 9), 10)
    assert report["covered"] == 1 and report["entropy"] == 0
    assert report["mode_collapse"] == "severe"


def test_uniform_predictions_cover_every_class() -> None:
    report = class_coverage(torch.arange(1000) % 10, 10)
    assert report["covered"] == 10 and report["entropy"] == pytest.approx(1.0)
    assert report["mode_collapse"] == "none"


def test_mostly_nines_is_partial_collapse() -> None:
    # the book's mnist-gan: clear digits, but mostly 9-like
    predicted = torch.cat([torch.full((700,), 9), torch.arange(300) % 9])
    report = class_coverage(predicted, 10)
    assert report["covered"] == 10 and report["mode_collapse"] == "partial"


def test_label_accuracy_per_label() -> None:
    asked = torch.arange(20) % 10
    predicted = asked.clone()
    predicted[asked == 3] = 5
    result = label_accuracy(predicted, asked, 10)
    assert result["accuracy_per_label"][3] == 0 and result["accuracy_per_label"][4] == 1
    assert result["mean_accuracy"] == pytest.approx(0.9)


def test_frechet_distance_matches_the_closed_form() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, (20000, 2))
    b = rng.normal(0, 2, (20000, 2)) + np.array([3.0, 0.0])
    # |mu_a - mu_b|^2 + tr(Ca + Cb - 2 sqrt(Ca Cb)) = 9 + 2 * (1 + 4 - 2 * 2) = 11
    assert frechet_distance(a, b) == pytest.approx(11.0, rel=0.05)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)


def test_without_the_shipped_file_an_evaluator_is_trained_once_and_cached(
    mnist_sample, evaluator_cache, tmp_path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from workers.engine import evaluator as module
    from workers.engine.datasets import Dataset

    monkeypatch.setattr(module, "SHIPPED", tmp_path / "missing.pt")
    monkeypatch.setattr(module, "EPOCHS", 5)
    train, test = mnist_sample
    dataset = Dataset(
        "builtin:mnist-sample", "small-sample-for-the-cache", train.head(800), test, 10
    )
    first = get_evaluator(dataset)
    assert first.test_accuracy >= 0.8  # five short epochs: far above chance, no more
    assert list(evaluator_cache.glob("evaluator-*.pt"))
    again = get_evaluator(dataset)
    assert again.test_accuracy == first.test_accuracy
    images = test.images[:64]
    assert torch.equal(first.predict(images), again.predict(images))


def test_conditional_training_reaches_class_accuracy_far_above_chance(
    trained_cgan: JobOutcome,
) -> None:
    conditional = trained_cgan.metrics["conditional"]
    # chance is 10%; a generator that ignored its label could not pass this
    assert conditional["mean_accuracy"] >= 0.7, conditional
    assert min(conditional["accuracy_per_label"]) >= 0.3, conditional


def test_the_detector_passes_a_healthy_generator(trained_cgan: JobOutcome) -> None:
    classes = trained_cgan.metrics["classes"]
    assert classes["covered"] == 10 and classes["mode_collapse"] == "none", classes


def test_the_detector_flags_mnist_gan_v1s_collapse(collapsed_v1: JobOutcome) -> None:
    classes = collapsed_v1.metrics["classes"]
    assert classes["mode_collapse"] == "severe", classes
    assert classes["covered"] <= 2


def test_healthy_generator_is_closer_to_real_digits(
    trained_cgan: JobOutcome, collapsed_v1: JobOutcome
) -> None:
    assert trained_cgan.metrics["frechet_distance"] < collapsed_v1.metrics["frechet_distance"]


def test_loss_gaps_are_reported_against_the_ideal(trained_cgan: JobOutcome) -> None:
    losses = trained_cgan.metrics["losses"]
    assert losses["ideal"] == pytest.approx(math.log(2))
    assert losses["d_gap"] == pytest.approx(abs(losses["d_final"] - math.log(2)))
