"""The book's three MNIST classifiers, and the project's evaluator of generated digits."""

from __future__ import annotations

import torch
from torch import nn


def book_classifier_mlp_sigmoid() -> nn.Module:
    """Notebook 03: Linear(784,200) Sigmoid Linear(200,10) Sigmoid; MSE, SGD 0.01."""
    return nn.Sequential(
        nn.Flatten(), nn.Linear(784, 200), nn.Sigmoid(), nn.Linear(200, 10), nn.Sigmoid()
    )


def book_classifier_mlp_layernorm() -> nn.Module:
    """Notebook 04: LeakyReLU(0.02) and LayerNorm; BCE, Adam 1e-3."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 200),
        nn.LeakyReLU(0.02),
        nn.LayerNorm(200),
        nn.Linear(200, 10),
        nn.Sigmoid(),
    )


def book_classifier_cnn() -> nn.Module:
    """Notebook 13: two strided convolutions with BatchNorm; 28→12→5, flatten 250."""
    return nn.Sequential(
        nn.Conv2d(1, 10, kernel_size=5, stride=2),
        nn.LeakyReLU(0.02),
        nn.BatchNorm2d(10),
        nn.Conv2d(10, 10, kernel_size=3, stride=2),
        nn.LeakyReLU(0.02),
        nn.BatchNorm2d(10),
        nn.Flatten(),
        nn.Linear(250, 10),
        nn.Sigmoid(),
    )


class EvaluatorCNN(nn.Module):
    """A small CNN, stronger than notebook 13's, that also exposes a 64-d feature vector.

    The features feed the Fréchet distance; the logits judge which digit an image shows.
    """

    feature_dim = 64

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, kernel_size=5, padding=2),  # (B, 16, 28, 28)
            nn.ReLU(),
            nn.BatchNorm2d(16),
            nn.MaxPool2d(2),  # (B, 16, 14, 14)
            nn.Conv2d(16, 32, kernel_size=5, padding=2),
            nn.ReLU(),
            nn.BatchNorm2d(32),
            nn.MaxPool2d(2),  # (B, 32, 7, 7)
            nn.Flatten(),
            nn.Linear(32 * 7 * 7, self.feature_dim),
            nn.ReLU(),
        )
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(self.feature_dim, 10)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 1, 28, 28) in [0, 1] → features (B, 64)."""
        return self.features(images.reshape(-1, 1, 28, 28))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.embed(images)))  # (B, 10) logits
