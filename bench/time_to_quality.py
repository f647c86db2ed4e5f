"""Wall time until the batched engine reaches the quality targets on the built-in digits.

- mnist-cgan: mean class accuracy (judged by the evaluator) >= 95%.
- mnist-gan: all 10 classes covered with normalised entropy >= 0.9.

The generator is evaluated after every few epochs; the clock counts training only (evaluation
pauses it). Book mode is then run for the same number of epochs, or as far as --book-budget
seconds allow, and what it reached is printed next to it. Last line: JSON.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workers.engine.evaluation import evaluate
from workers.engine.evaluator import get_evaluator
from workers.engine.trainer import Session, prepare, run
from workers.spec import JobSpec

Goal = Callable[[dict[str, Any]], bool]


def cgan_goal(metrics: dict[str, Any]) -> bool:
    return metrics["conditional"]["mean_accuracy"] >= 0.95


def gan_goal(metrics: dict[str, Any]) -> bool:
    classes = metrics["classes"]
    return classes["covered"] == 10 and classes["entropy"] >= 0.9


class Watch:
    """A should_stop callback that evaluates every few epochs and stops at the goal."""

    def __init__(self, session: Session, goal: Goal, every_epochs: int, stop_at_goal: bool) -> None:
        self.session, self.goal, self.stop_at_goal = session, goal, stop_at_goal
        self.every = every_epochs * session.plan.steps_per_epoch
        self.evaluator = get_evaluator(session.dataset)  # trained (or cached) before the clock
        self.step, self.paused, self.started = session.start, 0.0, time.perf_counter()
        self.reached_at: float | None = None
        self.reached_epoch: int | None = None
        self.last: dict[str, Any] = {}

    def training_seconds(self) -> float:
        return time.perf_counter() - self.started - self.paused

    def __call__(self) -> bool:
        if self.step and self.step % self.every == 0:
            pause = time.perf_counter()
            self.check()
            self.paused += time.perf_counter() - pause
        self.step += 1
        return self.stop_at_goal and self.reached_at is not None

    def check(self) -> None:
        parts, session = self.session.parts, self.session
        generator = parts.generator.eval()
        self.last = evaluate(
            generator, parts.family, session.history, session.dataset, self.evaluator
        )
        generator.train()
        if self.reached_at is None and self.goal(self.last):
            self.reached_at = self.training_seconds()
            self.reached_epoch = self.step // session.plan.steps_per_epoch


def race(model: str, training: dict[str, Any], goal: Goal, every: int, stop: bool) -> Watch:
    with tempfile.TemporaryDirectory() as tmp:
        session = prepare(JobSpec.model_validate({"model": model, "training": training}), Path(tmp))
        watch = Watch(session, goal, every, stop)
        run(session, should_stop=watch)
        if not stop or watch.reached_at is None:
            watch.check()
        return watch


def summary(watch: Watch) -> dict[str, Any]:
    classes = watch.last.get("classes", {})
    return {
        "accuracy": watch.last.get("conditional", {}).get("mean_accuracy"),
        "entropy": classes.get("entropy"),
        "covered": classes.get("covered"),
        "frechet_distance": watch.last.get("frechet_distance"),
    }


def book_comparison(model: str, epochs: int, budget_s: float) -> dict[str, Any]:
    """Book mode for ``epochs`` epochs, cut off after ``budget_s`` seconds of training."""
    with tempfile.TemporaryDirectory() as tmp:
        training = {"mode": "book", "epochs": epochs, "preflight": False}
        spec = JobSpec.model_validate({"model": model, "training": training})
        session = prepare(spec, Path(tmp))
        began = time.perf_counter()
        result = run(session, should_stop=lambda: time.perf_counter() - began > budget_s)
        evaluator = get_evaluator(session.dataset)
        generator = session.parts.generator.eval()
        metrics = evaluate(
            generator, session.plan.family, session.history, session.dataset, evaluator
        )
        watch_like = {"classes": metrics["classes"], "conditional": metrics.get("conditional", {})}
    return {
        "epochs_asked": epochs,
        "epochs_done": round(result.steps / session.plan.steps_per_epoch, 2),
        "seconds": round(result.seconds, 1),
        "accuracy": watch_like["conditional"].get("mean_accuracy"),
        "entropy": metrics["classes"]["entropy"],
        "covered": metrics["classes"]["covered"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--every", type=int, default=5, help="evaluate every N epochs")
    parser.add_argument("--book-budget", type=float, default=120.0, help="seconds for book mode")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, help="most epochs per race (default: the model's)")
    args = parser.parse_args()
    seed = {"seed": args.seed} | ({"epochs": args.epochs} if args.epochs else {})
    cgan = race("mnist-cgan", seed, cgan_goal, args.every, stop=True)
    gan = race("mnist-gan", seed, gan_goal, args.every, stop=True)
    figures: dict[str, Any] = {
        "cgan_seconds_to_95": None if cgan.reached_at is None else round(cgan.reached_at, 1),
        "cgan_epochs_to_95": cgan.reached_epoch,
        "gan_seconds_to_full_coverage": None
        if gan.reached_at is None
        else round(gan.reached_at, 1),
        "gan_epochs_to_full_coverage": gan.reached_epoch,
        "cgan_final_accuracy": summary(cgan)["accuracy"],
        "gan_final_entropy": summary(gan)["entropy"],
        "gan_final_covered": summary(gan)["covered"],
    }
    for name, watch in (("mnist-cgan", cgan), ("mnist-gan", gan)):
        epochs = watch.reached_epoch or watch.session.plan.epochs
        book = book_comparison(name, epochs, args.book_budget)
        figures[f"{'cgan' if name == 'mnist-cgan' else 'gan'}_book_same_epochs"] = book
        print(f"{name}: batched {summary(watch)}, reached at {watch.reached_at} s")
        print(f"{name}: book mode, same {epochs} epochs (budget {args.book_budget:.0f} s): {book}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
