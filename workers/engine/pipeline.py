"""A whole job: train, then evaluate, plot and export into the run folder.

Run folder: spec.json, plan.json, checkpoints/, history.json, loss.png, samples.png,
metrics.json, generator.pt; while training, live/ holds the latest history.json, loss.png and
samples.png. The CLI and the Celery task both call ``run_job``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from workers.engine.data import fake_dataset
from workers.engine.evaluation import evaluate
from workers.engine.evaluator import get_evaluator
from workers.engine.export import export_generator
from workers.engine.families import Family, get_family
from workers.engine.generation import generate
from workers.engine.history import LossHistory
from workers.engine.plots import image_grid, loss_plot
from workers.engine.trainer import ProgressFn, StopFn, TrainResult, train
from workers.spec import JobSpec

GRID_COLUMNS = 10


@dataclass
class JobOutcome:
    status: str  # "completed" or "stopped"
    run_dir: Path
    metrics: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)


def run_job(
    spec: JobSpec,
    run_dir: Path,
    on_progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    dry_run: bool = False,
    with_evaluation: bool = True,
    *,
    checkpoint_min_s: float = 0.0,
    on_live: LiveDone | None = None,
) -> JobOutcome:
    """Train ``spec`` into ``run_dir`` and, unless stopped, write every output.

    ``checkpoint_min_s``: at least this many seconds between periodic checkpoints (see ``train``).
    ``on_live``: live outputs are written while training, and this is told of each new set.
    """
    family = get_family(spec.model)
    if dry_run:  # one real step on fake data: checks the wiring, not the data
        training = spec.training.model_copy(update={"max_steps": 1, "preflight": False})
        spec = spec.model_copy(update={"training": training})
    dataset = fake_dataset(family, 64, spec.training.seed) if dry_run else None
    live = LiveOutputs(run_dir / "live", family, on_live) if on_live is not None else None
    result = train(
        spec,
        run_dir,
        on_progress,
        should_stop,
        dataset=dataset,
        checkpoint_min_s=checkpoint_min_s,
        on_live=live,
    )
    if result.status != "completed":
        return JobOutcome(result.status, run_dir)
    evaluator = None
    if with_evaluation and family.digits and not dry_run:
        evaluator = get_evaluator(result.dataset)
    generator = result.parts.final_generator.eval()
    metrics = evaluate(generator, family, result.history, result.dataset, evaluator)
    metrics["training"] = {
        "steps": result.steps,
        "resumed_from": result.resumed_from,
        "seconds": result.seconds,
        "preflight": result.preflight,
        "dry_run": dry_run,
    }
    return JobOutcome(
        "completed", run_dir, metrics, write_outputs(run_dir, result, family, metrics, spec)
    )


def write_outputs(
    run_dir: Path, result: TrainResult, family: Family, metrics: dict[str, Any], spec: JobSpec
) -> dict[str, str]:
    """history.json, loss.png, samples.png, metrics.json and generator.pt; returns their paths."""
    paths = {
        "history": run_dir / "history.json",
        "loss_plot": run_dir / "loss.png",
        "samples": run_dir / "samples.png",
        "metrics": run_dir / "metrics.json",
        "generator": run_dir / "generator.pt",
    }
    paths["history"].write_text(loss_series(result.history, family))
    loss_plot(result.history, family.ideal_loss, family.loss.upper(), paths["loss_plot"])
    generator = result.parts.final_generator.eval()
    sample_grid(generator, family, paths["samples"])
    paths["metrics"].write_text(json.dumps(metrics, indent=2) + "\n")
    spec_dict = spec.model_dump(mode="json")
    export_generator(paths["generator"], generator, family, metrics, spec_dict)
    return {name: str(path) for name, path in paths.items()}


def loss_series(history: LossHistory, family: Family) -> str:
    """history.json: the losses, with the loss's name and its ideal value (for live charts)."""
    extra = {"loss": family.loss, "ideal": family.ideal_loss}
    return json.dumps(history.to_dict() | extra) + "\n"


LiveDone = Callable[[int, dict[str, str]], None]  # steps done, live output name → path


class LiveOutputs:
    """The loss series, loss plot and sample grid so far, in ``folder`` (each file replaced
    whole, so a reader never sees half of one); then ``done`` is told their paths."""

    def __init__(self, folder: Path, family: Family, done: LiveDone) -> None:
        self.folder, self.family, self.done = folder, family, done
        self.paths = {
            "history": folder / "history.json",
            "loss_plot": folder / "loss.png",
            "samples": folder / "samples.png",
        }

    def __call__(self, step: int, history: LossHistory, generator: torch.nn.Module) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        staged = {name: path.with_name(f".{path.name}") for name, path in self.paths.items()}
        staged["history"].write_text(loss_series(history, self.family))
        loss_plot(history, self.family.ideal_loss, self.family.loss.upper(), staged["loss_plot"])
        generator.eval()  # batch norm from its running statistics, which drawing leaves alone
        try:
            sample_grid(generator, self.family, staged["samples"])
        finally:
            generator.train()
        for name, path in staged.items():
            os.replace(path, self.paths[name])
        self.done(step, {name: str(path) for name, path in self.paths.items()})


def sample_grid(generator: torch.nn.Module, family: Family, path: Path) -> Path:
    """Seeds 0..9 across; one row per class for a conditional generator, else 6 rows of seeds."""
    if family.num_classes:
        labels = [k for k in range(family.num_classes) for _ in range(GRID_COLUMNS)]
        seeds = [i % GRID_COLUMNS for i in range(len(labels))]
        return image_grid(generate(generator, seeds, labels), GRID_COLUMNS, path)
    rows = 4 if not family.is_image else 6
    columns = 1 if not family.is_image else GRID_COLUMNS
    return image_grid(generate(generator, list(range(rows * columns))), columns, path)
