"""Metrics the book does not have: class accuracy, mode collapse, Fréchet distance, loss gaps."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from workers.engine.datasets import Dataset
from workers.engine.evaluator import Evaluator
from workers.engine.families import Family
from workers.engine.generation import generate
from workers.engine.history import LossHistory

SAMPLES = 1000
COVERAGE_SHARE = 0.25  # a class counts as covered with at least a quarter of its fair share
PATTERN_TARGET = (0.9, 0.1, 0.9, 0.1)


def evaluate(
    generator: nn.Module,
    family: Family,
    history: LossHistory,
    dataset: Dataset,
    evaluator: Evaluator | None,
    samples: int = SAMPLES,
) -> dict[str, Any]:
    """Every metric that applies to this family; ``evaluator`` is needed for digit families."""
    metrics: dict[str, Any] = {"losses": loss_gaps(history, family.ideal_loss)}
    if not family.is_image:
        metrics["pattern"] = pattern_metrics(generator)
        return metrics
    if evaluator is None:
        return metrics
    seeds = list(range(samples))
    labels = [i % family.num_classes for i in seeds] if family.num_classes else None
    images = generate(generator, seeds, labels)  # (N, 1, 28, 28)
    predicted = evaluator.predict(images)
    metrics["evaluator_test_accuracy"] = evaluator.test_accuracy
    metrics["classes"] = class_coverage(predicted, 10)
    if labels is not None:
        metrics["conditional"] = label_accuracy(predicted, torch.tensor(labels), family.num_classes)
    real = evaluator.features(dataset.test.images).double().numpy()
    fake = evaluator.features(images).double().numpy()
    metrics["frechet_distance"] = frechet_distance(fake, real)
    return metrics


def class_coverage(predicted: torch.Tensor, num_classes: int) -> dict[str, Any]:
    """Histogram of predicted classes, its normalised entropy, classes covered, and a verdict.

    ``mode_collapse`` is 'severe' (two classes or fewer, or entropy < 0.5), 'partial' (a class
    missing or entropy < 0.9) or 'none'.
    """
    counts = torch.bincount(predicted.long(), minlength=num_classes).double()
    shares = counts / counts.sum()
    nonzero = shares[shares > 0]
    entropy = abs(float((nonzero * nonzero.log()).sum() / math.log(num_classes)))
    covered = int((shares >= COVERAGE_SHARE / num_classes).sum())
    if covered <= 2 or entropy < 0.5:
        verdict = "severe"
    elif covered < num_classes or entropy < 0.9:
        verdict = "partial"
    else:
        verdict = "none"
    return {
        "histogram": [int(c) for c in counts.tolist()],
        "entropy": entropy,
        "covered": covered,
        "mode_collapse": verdict,
    }


def label_accuracy(
    predicted: torch.Tensor, asked: torch.Tensor, num_classes: int
) -> dict[str, Any]:
    """How often the evaluator sees the asked-for digit, per label and on average."""
    per_label = [float((predicted[asked == k] == k).float().mean()) for k in range(num_classes)]
    return {"accuracy_per_label": per_label, "mean_accuracy": sum(per_label) / num_classes}


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (N, d)."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    values, vectors = np.linalg.eigh(cov_a)
    root_a = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
    middle = root_a @ cov_b @ root_a
    trace_root = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    distance = ((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_root
    return float(max(distance, 0.0))


def loss_gaps(history: LossHistory, ideal: float) -> dict[str, Any]:
    """Final losses (mean of the last 10% of the history) and their distance from the ideal."""
    d_final, g_final = history.recent_mean()
    return {
        "ideal": ideal,
        "d_final": d_final,
        "g_final": g_final,
        "d_gap": None if d_final is None else abs(d_final - ideal),
        "g_gap": None if g_final is None else abs(g_final - ideal),
    }


def pattern_metrics(generator: nn.Module) -> dict[str, Any]:
    """The 1010 generator's output for its constant input, and its distance to 1010."""
    output = generate(generator, [0])[0].tolist()
    error = max(abs(o - t) for o, t in zip(output, PATTERN_TARGET, strict=True))
    return {"output": output, "target": list(PATTERN_TARGET), "max_abs_error": error}
