"""The evaluator: a CNN that judges generated digits, trained once per dataset and cached."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from workers.engine.classifiers import EvaluatorCNN
from workers.engine.datasets import Dataset, Split
from workers.engine.settings import engine_settings

EVALUATOR_VERSION = 1
EPOCHS = 8
BATCH = 64
MAX_SHIFT = 2  # pixels of random translation, the cheapest useful augmentation for digits


@dataclass
class Evaluator:
    model: EvaluatorCNN  # eval mode, CPU
    test_accuracy: float

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """Predicted digit (N,) for images (N, 1, 28, 28)."""
        return torch.cat([self.model(chunk).argmax(1) for chunk in images.float().split(1024)])

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Penultimate features (N, 64), the space of the Fréchet distance."""
        return torch.cat([self.model.embed(chunk) for chunk in images.float().split(1024)])


def cache_dir() -> Path:
    return engine_settings().cache


def get_evaluator(dataset: Dataset, cache: Path | None = None) -> Evaluator:
    """The evaluator for this dataset: from the cache, or trained now and cached."""
    key = hashlib.sha256(f"{dataset.identity}:v{EVALUATOR_VERSION}".encode()).hexdigest()[:16]
    path = (cache or cache_dir()) / f"evaluator-{key}.pt"
    model = EvaluatorCNN()
    if path.is_file():
        saved = torch.load(path, weights_only=True)
        model.load_state_dict(saved["state_dict"])
        return Evaluator(model.eval(), float(saved["test_accuracy"]))
    evaluator = train_evaluator(dataset.train, dataset.test)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    torch.save(
        {"state_dict": evaluator.model.state_dict(), "test_accuracy": evaluator.test_accuracy},
        temporary,
    )
    os.replace(temporary, path)
    return evaluator


def train_evaluator(train: Split, test: Split, epochs: int = EPOCHS, seed: int = 0) -> Evaluator:
    """Cross-entropy, Adam 1e-3, random shifts of up to two pixels."""
    if train.labels is None or test.labels is None:
        raise ValueError("the evaluator needs labelled digits")
    torch.manual_seed(seed)
    model = EvaluatorCNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    rng = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(train), generator=rng)
        for batch in order.split(BATCH):
            images = _shift(train.images[batch], rng)
            loss = loss_fn(model(images), train.labels[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    evaluator = Evaluator(model.eval(), 0.0)
    evaluator.test_accuracy = float((evaluator.predict(test.images) == test.labels).float().mean())
    return evaluator


def _shift(images: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    dy, dx = (int(v) for v in torch.randint(-MAX_SHIFT, MAX_SHIFT + 1, (2,), generator=rng))
    return torch.roll(images, shifts=(dy, dx), dims=(2, 3))
