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


def _conv_block(channels_in: int, channels_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(channels_in, channels_out, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(channels_out),
        nn.ReLU(),
    )


class EvaluatorCNN(nn.Module):
    """The project's judge of digits, far stronger than notebook 13's CNN: five 3x3 convolutions
    in three stages, global average pooling, a 64-d feature vector and a linear head.

    The features feed the Fréchet distance; the logits judge which digit an image shows.
    """

    feature_dim = 64

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.width = width
        self.features = nn.Sequential(
            _conv_block(1, width),
            _conv_block(width, width),
            nn.MaxPool2d(2),  # (B, w, 14, 14)
            _conv_block(width, 2 * width),
            _conv_block(2 * width, 2 * width),
            nn.MaxPool2d(2),  # (B, 2w, 7, 7)
            _conv_block(2 * width, 4 * width),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),  # (B, 4w)
            nn.Linear(4 * width, self.feature_dim),
            nn.ReLU(),
        )
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(self.feature_dim, 10)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 1, 28, 28) in [0, 1] → features (B, 64)."""
        return self.features(images.reshape(-1, 1, 28, 28))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.embed(images)))  # (B, 10) logits
