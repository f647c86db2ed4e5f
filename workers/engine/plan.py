"""The plan: a job spec with every family default resolved, as the trainer will run it."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch

from workers.engine.families import Family, OptimizerChoice, get_family
from workers.engine.runtime import Runtime, choose_runtime
from workers.engine.settings import engine_settings
from workers.spec import JobSpec


@dataclass(frozen=True)
class Plan:
    """The spec with every default resolved: what the run really does."""

    family: Family
    mode: str
    batch_size: int
    epochs: int
    steps_per_epoch: int
    total_steps: int
    optimizer: OptimizerChoice
    seed: int
    checkpoint_every: int
    record_every: int
    runtime: Runtime
    ema_decay: float = 0.0  # 0: no moving average of G
    label_input: str = "concat"  # how a conditional D sees the label

    def describe(self) -> dict[str, Any]:
        return {
            "model": self.family.name,
            "mode": self.mode,
            "batch_size": self.batch_size,
            "epochs": self.epochs,
            "steps_per_epoch": self.steps_per_epoch,
            "total_steps": self.total_steps,
            "optimizer": asdict(self.optimizer),
            "seed": self.seed,
            "checkpoint_every": self.checkpoint_every,
            "ema_decay": self.ema_decay,
            "label_input": self.label_input if self.family.num_classes else None,
            "device": str(self.runtime.device),
            "precision": self.runtime.precision,
            "torch_threads": torch.get_num_threads(),
        }


class PlanError(ValueError):
    """The spec asks for more than this service allows, once the dataset's size is known."""


def make_plan(spec: JobSpec, train_size: int) -> Plan:
    """Resolve the family's defaults for the chosen mode."""
    family = get_family(spec.model)
    training = spec.training
    book = training.mode == "book"
    batch = 1 if book else min(training.batch_size or family.batched_batch_size, train_size)
    base = family.book_optimizer if book else family.batched_optimizer
    optimizer = OptimizerChoice(base.kind, training.lr or base.lr, base.betas)
    epochs = training.epochs or (family.book_epochs if book else family.batched_epochs)
    steps_per_epoch = max(1, train_size // batch)
    total = epochs * steps_per_epoch
    if training.max_steps is not None:
        total = min(total, training.max_steps)
    ceiling = engine_settings().max_total_steps
    if total > ceiling:
        raise PlanError(
            f"the job would train {total:,} optimizer steps ({epochs} epochs of {steps_per_epoch:,}"
            f"); this service allows {ceiling:,}: set training.max_steps, fewer epochs or a "
            "larger batch_size"
        )
    return Plan(
        family=family,
        mode=training.mode,
        batch_size=batch,
        epochs=math.ceil(total / steps_per_epoch),
        steps_per_epoch=steps_per_epoch,
        total_steps=total,
        optimizer=optimizer,
        seed=training.seed,
        checkpoint_every=training.checkpoint_every or max(100, total // 20),
        record_every=10 if book else 1,
        runtime=choose_runtime(training.device, training.precision, training.mode),
        ema_decay=_ema_decay(training.ema_decay, book),
        label_input=_label_input(training.label_input, book, family),
    )


BATCHED_EMA_DECAY = 0.999


def _label_input(asked: str | None, book: bool, family: Family) -> str:
    """The spec's, or the default: the book's one-hot in book mode (and for a model without
    labels), a projection batched."""
    if asked is not None:
        return asked
    return "concat" if book or not family.num_classes else "projection"


def _ema_decay(asked: float | None, book: bool) -> float:
    """The spec's, or the default: none in book mode (the book's recipe), 0.999 batched."""
    if asked is not None:
        return asked
    return 0.0 if book else BATCHED_EMA_DECAY
