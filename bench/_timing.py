"""Training rates for the benchmarks: the engine's own loop, timed step by step."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from workers.engine.trainer import prepare, run
from workers.spec import JobSpec


class StepClock:
    """A ``should_stop`` hook that never stops: it notes when each step begins.

    It first waits for the device, so queued GPU work is counted where it belongs. A rate taken
    from these times leaves out warm-up steps (first-use CUDA and oneDNN set-up), and the final
    checkpoint save, which comes after the last step began.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.times: list[float] = []

    def __call__(self) -> bool:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.times.append(time.perf_counter())
        return False

    def steps_per_s(self, warm_up: int) -> float:
        timed = len(self.times) - 1 - warm_up  # the last step's end is not seen
        if timed < 1:
            raise ValueError(f"{len(self.times)} steps: need at least {warm_up + 2}")
        return timed / (self.times[-1] - self.times[warm_up])


def samples_per_s(model: str, training: dict[str, Any], warm_up: int = 1) -> tuple[float, dict]:
    """Samples/s of the engine's loop for one spec (no pre-flight, a fresh folder), and its plan."""
    with tempfile.TemporaryDirectory() as tmp:
        spec = JobSpec.model_validate(
            {"model": model, "training": {"preflight": False, **training}}
        )
        session = prepare(spec, Path(tmp))
        clock = StepClock(session.plan.runtime.device)
        run(session, should_stop=clock)
    rate = clock.steps_per_s(warm_up) * session.plan.batch_size
    return rate, session.plan.describe()
