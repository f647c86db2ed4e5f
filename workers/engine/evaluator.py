"""The evaluator: a CNN that judges generated digits, trained once and shipped with the project.

``weights/mnist-evaluator.pt`` holds its weights, the real held-out digits it was tested on and
its accuracy there. ``python -m workers.engine.evaluator`` (``make evaluator``) trains it again:
on the built-in digits' training split, plus torchvision's MNIST when a folder of it is given.
The generators never train against it: it only judges them. A checkout without the file trains
one at first use, per dataset, and caches it.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from workers.engine.classifiers import EvaluatorCNN
from workers.engine.datasets import Dataset, Split
from workers.engine.settings import engine_settings

logger = logging.getLogger(__name__)
EVALUATOR_VERSION = 2
SHIPPED = Path(__file__).with_name("weights") / "mnist-evaluator.pt"
EPOCHS = 20
BATCH = 64
LR = 3e-3
WEIGHT_DECAY = 5e-4
LABEL_SMOOTHING = 0.05
MAX_ROTATION_DEG = 12.0  # augmentation: what handwriting varies by, and no more
MAX_SCALE = 0.1
MAX_SHIFT_PX = 2.5


@dataclass
class Evaluator:
    model: EvaluatorCNN  # eval mode, CPU
    test_accuracy: float
    tested_on: str = ""  # the real held-out digits behind test_accuracy

    @torch.no_grad()
    def predict(self, images: torch.Tensor) -> torch.Tensor:
        """Predicted digit (N,) for images (N, 1, 28, 28)."""
        return torch.cat([self.model(chunk).argmax(1) for chunk in images.float().split(1024)])

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Penultimate features (N, 64), the space of the Fréchet distance."""
        return torch.cat([self.model.embed(chunk) for chunk in images.float().split(1024)])

    def accuracy(self, split: Split) -> float:
        if split.labels is None:
            raise ValueError("accuracy needs labelled digits")
        return float((self.predict(split.images) == split.labels).float().mean())


def cache_dir() -> Path:
    return engine_settings().cache


def get_evaluator(dataset: Dataset, cache: Path | None = None) -> Evaluator:
    """The shipped evaluator; without it, one trained for this dataset now and cached."""
    if SHIPPED.is_file():
        return load_evaluator(SHIPPED)
    logger.warning("%s is missing: training an evaluator for %s", SHIPPED, dataset.identity)
    key = hashlib.sha256(f"{dataset.identity}:v{EVALUATOR_VERSION}".encode()).hexdigest()[:16]
    path = (cache or cache_dir()) / f"evaluator-{key}.pt"
    if path.is_file():
        return load_evaluator(path)
    evaluator = train_evaluator(dataset.train, dataset.test, epochs=EPOCHS)
    save_evaluator(evaluator, path, f"{dataset.identity}'s training split")
    return evaluator


def load_evaluator(path: Path) -> Evaluator:
    saved = torch.load(path, map_location="cpu", weights_only=True)
    model = EvaluatorCNN(int(saved.get("width", 32)))
    model.load_state_dict({name: value.float() for name, value in saved["state_dict"].items()})
    return Evaluator(model.eval(), float(saved["test_accuracy"]), str(saved.get("tested_on", "")))


def save_evaluator(evaluator: Evaluator, path: Path, trained_on: str = "") -> None:
    """Weights (half precision: the file ships in the repository) and what they scored."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    state = {name: value.half() for name, value in evaluator.model.state_dict().items()}
    torch.save(
        {
            "version": EVALUATOR_VERSION,
            "width": evaluator.model.width,
            "state_dict": state,
            "test_accuracy": evaluator.test_accuracy,
            "tested_on": evaluator.tested_on,
            "trained_on": trained_on,
        },
        temporary,
    )
    os.replace(temporary, path)


def train_evaluator(
    train: Split,
    test: Split,
    epochs: int = EPOCHS,
    seed: int = 0,
    on_epoch: Callable[[int], None] | None = None,
) -> Evaluator:
    """Cross-entropy with label smoothing, AdamW on a one-cycle schedule, every batch randomly
    rotated, scaled and shifted; tested on ``test``."""
    if train.labels is None or test.labels is None:
        raise ValueError("the evaluator needs labelled digits")
    torch.manual_seed(seed)
    rng = torch.Generator().manual_seed(seed)
    model = EvaluatorCNN()
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    steps = epochs * math.ceil(len(train) / BATCH)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, LR, total_steps=steps)
    images = train.images.float().reshape(-1, 1, 28, 28)
    for epoch in range(epochs):
        model.train()
        for batch in torch.randperm(len(train), generator=rng).split(BATCH):
            logits = model(augment(images[batch], rng))
            loss = F.cross_entropy(logits, train.labels[batch], label_smoothing=LABEL_SMOOTHING)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        if on_epoch is not None:
            on_epoch(epoch + 1)
    evaluator = Evaluator(model.eval(), 0.0, f"{len(test)} real held-out digits")
    evaluator.test_accuracy = evaluator.accuracy(test)
    return evaluator


def augment(images: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    """Each image (B, 1, 28, 28) rotated, scaled and shifted at random, as one affine warp."""
    count = images.shape[0]

    def uniform(*shape: int) -> torch.Tensor:  # in [-1, 1)
        return torch.rand(*shape, generator=rng) * 2 - 1

    angle = uniform(count) * math.radians(MAX_ROTATION_DEG)
    scale = 1 + uniform(count) * MAX_SCALE
    shift = uniform(count, 2) * (MAX_SHIFT_PX / 14)  # grid units: 14 pixels from centre to edge
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    )  # (B, 2, 3)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, align_corners=False, padding_mode="zeros")


def main(argv: list[str] | None = None) -> int:
    """Train the shipped evaluator again and print its accuracy on real held-out digits."""
    from tqdm import tqdm

    from workers.engine.data import builtin_mnist_sample, read_mnist_idx

    parser = argparse.ArgumentParser(prog="python -m workers.engine.evaluator", description=__doc__)
    parser.add_argument("--mnist", type=Path, help="torchvision's MNIST folder (idx files)")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--out", type=Path, default=SHIPPED)
    args = parser.parse_args(argv)
    train, test = builtin_mnist_sample()
    trained_on = f"the built-in digits' {len(train)} training images"
    if args.mnist is not None:
        full_train, full_test = (
            read_mnist_idx(args.mnist, "train"),
            read_mnist_idx(args.mnist, "test"),
        )
        train, test = _joined(train, full_train), _joined(test, full_test)
        trained_on += f" and MNIST's {len(full_train)}"
    with tqdm(total=args.epochs, desc="evaluator", unit="epoch") as bar:
        evaluator = train_evaluator(train, test, args.epochs, on_epoch=lambda _: bar.update())
    save_evaluator(evaluator, args.out, trained_on)
    print(f"{args.out}: {evaluator.test_accuracy:.4f} on {evaluator.tested_on}")
    return 0


def _joined(first: Split, second: Split) -> Split:
    """Two labelled splits of digits as one."""
    if first.labels is None or second.labels is None:
        raise ValueError("the evaluator needs labelled digits")
    return Split(torch.cat([first.images, second.images]), torch.cat([first.labels, second.labels]))


if __name__ == "__main__":
    raise SystemExit(main())
