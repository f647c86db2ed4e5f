"""The evaluator shipped with the project: its accuracy on real held-out digits, measured again
here; its augmentation; its training loop at a tiny size."""

from __future__ import annotations

from pathlib import Path

import torch

from workers.engine.data import builtin_mnist_sample
from workers.engine.evaluator import (
    SHIPPED,
    augment,
    load_evaluator,
    save_evaluator,
    train_evaluator,
)


def test_the_shipped_evaluator_recognises_99_in_100_real_held_out_digits() -> None:
    assert SHIPPED.is_file(), "run make evaluator"
    evaluator = load_evaluator(SHIPPED)
    _train, test = builtin_mnist_sample()
    measured = evaluator.accuracy(test)
    assert measured >= 0.99, measured
    assert abs(measured - evaluator.test_accuracy) <= 0.002  # what it says of itself holds
    assert "held-out" in evaluator.tested_on
    per_class = [
        float((evaluator.predict(test.images[test.labels == k]) == k).float().mean())
        for k in range(10)
    ]
    assert min(per_class) >= 0.96, per_class


def test_augmentation_moves_digits_but_keeps_their_shape_and_range() -> None:
    _train, test = builtin_mnist_sample()
    images = test.images[:32]
    warped = augment(images, torch.Generator().manual_seed(0))
    assert warped.shape == images.shape
    assert float(warped.min()) >= 0.0 and float(warped.max()) <= 1.0 + 1e-6
    assert not torch.allclose(warped, images)
    ink_before, ink_after = images.sum((1, 2, 3)), warped.sum((1, 2, 3))
    assert torch.allclose(ink_after, ink_before, rtol=0.35)  # moved and scaled, not erased


def test_a_short_training_learns_digits_and_round_trips_through_its_file(tmp_path: Path) -> None:
    train, test = builtin_mnist_sample()
    epochs: list[int] = []
    evaluator = train_evaluator(train.head(800), test.head(300), epochs=5, on_epoch=epochs.append)
    assert epochs == [1, 2, 3, 4, 5]
    assert evaluator.test_accuracy >= 0.8  # five short epochs: far above chance (0.1)
    save_evaluator(evaluator, tmp_path / "evaluator.pt", "800 digits")
    again = load_evaluator(tmp_path / "evaluator.pt")
    assert again.test_accuracy == evaluator.test_accuracy
    agree = (again.predict(test.images) == evaluator.predict(test.images)).float().mean()
    assert float(agree) >= 0.99  # saved in half precision
