"""Generative quality of the default presets on the built-in digits, judged by the shipped
evaluator, with the book-faithful recipe beside them (issue 18's benchmark).

- mnist-cgan (default preset): mean judged class accuracy and the worst class's, and the
  training seconds until the mean first reaches 98% (targets: >= 0.98, worst >= 0.95, <= 60 s);
- mnist-gan (default preset): classes covered (10) and normalised entropy (>= 0.95);
- the same figures for book mode, trained for as many seconds as --book-budget allows;
- evaluator_real_accuracy: the evaluator itself on the real held-out digits (>= 0.99).

The generator that is served (the moving average, where the preset keeps one) is evaluated
every --every epochs; the clock counts training only. Last line: JSON.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from workers.engine.data import builtin_mnist_sample
from workers.engine.evaluation import evaluate
from workers.engine.evaluator import SHIPPED, Evaluator, get_evaluator, load_evaluator
from workers.engine.trainer import Session, prepare, run
from workers.spec import JobSpec

CGAN_TARGET = 0.98


class Watch:
    """A should_stop callback: evaluates every few epochs (the clock paused meanwhile), notes
    when the conditional accuracy first reaches the target, and stops after ``budget_s``."""

    def __init__(self, session: Session, evaluator: Evaluator, every_steps: int, budget_s: float):
        self.session, self.evaluator = session, evaluator
        self.every, self.budget_s = every_steps, budget_s
        self.step, self.paused, self.started = session.start, 0.0, time.perf_counter()
        self.reached_at: float | None = None
        self.last: dict[str, Any] = {}

    def training_seconds(self) -> float:
        return time.perf_counter() - self.started - self.paused

    def __call__(self) -> bool:
        if self.step and self.step % self.every == 0:
            pause = time.perf_counter()
            self.check()
            self.paused += time.perf_counter() - pause
        self.step += 1
        return self.training_seconds() > self.budget_s

    def check(self) -> None:
        session = self.session
        generator = session.parts.final_generator
        was_training = generator.training
        generator.eval()
        self.last = evaluate(
            generator, session.plan.family, session.history, session.dataset, self.evaluator
        )
        generator.train(was_training)
        accuracy = self.last.get("conditional", {}).get("mean_accuracy", 0.0)
        if self.reached_at is None and accuracy >= CGAN_TARGET:
            self.reached_at = self.training_seconds()


def race(model: str, training: dict[str, Any], every: int, budget_s: float) -> Watch:
    with tempfile.TemporaryDirectory() as tmp:
        spec = JobSpec.model_validate({"model": model, "training": training})
        session = prepare(spec, Path(tmp))
        evaluator = get_evaluator(session.dataset)
        watch = Watch(session, evaluator, every * session.plan.steps_per_epoch, budget_s)
        run(session, should_stop=watch)
        watch.check()
        return watch


def figures(watch: Watch, prefix: str) -> dict[str, Any]:
    """The figures of one race, named as the issue names them."""
    metrics = watch.last
    conditional = metrics.get("conditional")
    classes = metrics["classes"]
    if conditional is not None:
        return {
            f"{prefix}_accuracy": round(conditional["mean_accuracy"], 4),
            f"{prefix}_worst_class": round(min(conditional["accuracy_per_label"]), 4),
            f"{prefix}_s_to_98": None if watch.reached_at is None else round(watch.reached_at, 1),
            f"{prefix}_frechet": round(metrics["frechet_distance"], 3),
        }
    return {
        f"{prefix}_covered": classes["covered"],
        f"{prefix}_entropy": round(classes["entropy"], 4),
        f"{prefix}_frechet": round(metrics["frechet_distance"], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--every", type=int, default=5, help="evaluate every N epochs")
    parser.add_argument("--book-budget", type=float, default=120.0, help="seconds for book mode")
    parser.add_argument("--budget", type=float, default=600.0, help="most seconds per preset")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, help="epochs per preset (default: the preset's)")
    args = parser.parse_args()
    training: dict[str, Any] = {"seed": args.seed} | (
        {"epochs": args.epochs} if args.epochs else {}
    )
    book = {"seed": args.seed, "mode": "book", "preflight": False}
    result: dict[str, Any] = {}
    for model, prefix in (("mnist-cgan", "cgan"), ("mnist-gan", "gan")):
        default = race(model, training, args.every, args.budget)
        faithful = race(model, book, args.every, args.book_budget)
        result |= figures(default, prefix) | figures(faithful, f"book_{prefix}")
        print(f"{model}: default preset {figures(default, prefix)}")
        print(f"{model}: book recipe, {args.book_budget:.0f} s: {figures(faithful, prefix)}")
    _train, test = builtin_mnist_sample()
    result["evaluator_real_accuracy"] = round(load_evaluator(SHIPPED).accuracy(test), 4)
    result["targets"] = "cgan_accuracy>=0.98 worst>=0.95 s_to_98<=60 gan 10/10 entropy>=0.95"
    print(json.dumps(result))


if __name__ == "__main__":
    main()
