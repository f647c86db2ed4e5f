"""What every loader hands the trainer, and the error it refuses input with.

A module of its own so that the loaders (``data`` and the ``celeba`` package) and their users
(trainer, evaluator, preflight) share these types, and imports point one way: toward here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


class DataError(ValueError):
    """Input data that cannot be used; the message says which file and what to change."""


@dataclass(frozen=True)
class Split:
    images: torch.Tensor  # (N, *sample_shape) float32 in [0, 1]
    labels: torch.Tensor | None  # (N,) int64, or None for unlabelled data

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def head(self, n: int) -> Split:
        labels = None if self.labels is None else self.labels[:n]
        return Split(self.images[:n], labels)


@dataclass(frozen=True)
class Dataset:
    name: str
    identity: str  # stable key for caches (evaluator); changes when the data changes
    train: Split
    test: Split
    num_classes: int


def as_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 pixels (faces are kept so in memory) to floats in [0, 1]; floats pass through."""
    return images.float().div_(255) if images.dtype == torch.uint8 else images
