"""The engine: one training loop for every family, in book or batched mode.

``train(spec, run_dir, on_progress, should_stop)`` is a plain function: a CLI, a Celery task and a
test all drive it the same way. It resumes from the newest checkpoint in ``run_dir``.
The plan (the spec with its defaults resolved) lives in ``workers.engine.plan``.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from workers.engine import checkpoint, preflight
from workers.engine.data import load_dataset
from workers.engine.datasets import Dataset, Split, as_float
from workers.engine.families import OptimizerChoice, get_family
from workers.engine.history import LossHistory
from workers.engine.memory import dataset_home
from workers.engine.plan import Plan, make_plan
from workers.engine.runtime import configure_threads
from workers.engine.steps import GanParts, StepStats, batched_step, book_step
from workers.spec import JobSpec

PROGRESS_UPDATES = 500  # about this many progress calls per run
LIVE_MIN_S = 5.0  # live outputs at an epoch's end, but never more often than this...
LIVE_MAX_S = 20.0  # ...and within a long epoch at least this often


@dataclass(frozen=True)
class Progress:
    epoch: int  # 1-based
    epochs: int
    step: int  # steps done
    total_steps: int
    d_loss: float | None
    g_loss: float | None
    d_real: float
    d_fake: float
    samples_per_s: float
    eta_s: float
    checkpoint_step: int  # the newest checkpoint on disk: where a restart resumes from


@dataclass
class TrainResult:
    status: str  # "completed" or "stopped"
    steps: int
    resumed_from: int
    history: LossHistory
    plan: Plan
    parts: GanParts
    dataset: Dataset
    preflight: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


ProgressFn = Callable[[Progress], None]
StopFn = Callable[[], bool]
# called now and then while training (the first step, epoch ends, long epochs): the steps done,
# the history so far and the generator (in train mode: a caller that draws switches it to eval)
LiveFn = Callable[[int, LossHistory, torch.nn.Module], None]


def build_parts(plan: Plan) -> GanParts:
    """Fresh networks and optimisers, seeded by the spec's seed."""
    torch.manual_seed(plan.seed)
    device = plan.runtime.device
    generator = plan.family.build_generator().to(device)
    discriminator = plan.family.build_discriminator(plan.label_input).to(device)
    if plan.family.conv:  # channels-last suits convolutions on both oneDNN and cuDNN
        generator = generator.to(memory_format=torch.channels_last)
        discriminator = discriminator.to(memory_format=torch.channels_last)
    noise = torch.Generator().manual_seed(plan.seed)  # on the CPU: see sample_latent
    ema = None
    if plan.ema_decay > 0:
        ema = copy.deepcopy(generator).eval().requires_grad_(False)
    return GanParts(
        family=plan.family,
        generator=generator,
        discriminator=discriminator,
        g_optimizer=_optimizer(plan.optimizer, generator),
        d_optimizer=_optimizer(plan.optimizer, discriminator),
        scaler=torch.amp.GradScaler(device.type, enabled=plan.runtime.needs_grad_scaler),
        runtime=plan.runtime,
        noise=noise,
        loss_fn=plan.family.loss_fn(),
        ema=ema,
        ema_decay=plan.ema_decay,
    )


def _optimizer(choice: OptimizerChoice, module: torch.nn.Module) -> torch.optim.Optimizer:
    # foreach: one call over all tensors instead of one per tensor (the CPU default is off)
    if choice.kind == "sgd":
        return torch.optim.SGD(module.parameters(), lr=choice.lr, foreach=True)
    return torch.optim.Adam(module.parameters(), lr=choice.lr, betas=choice.betas, foreach=True)


def epoch_order(plan: Plan, epoch: int, n: int) -> torch.Tensor:
    """Index order of one epoch: the book walks the data in order; batched mode shuffles.

    The permutation depends only on (seed, epoch), so a resumed run sees the same batches.
    """
    if plan.mode == "book":
        return torch.arange(n)
    rng = torch.Generator().manual_seed(plan.seed * 100_003 + epoch)
    return torch.randperm(n, generator=rng)


@dataclass
class Session:
    """A run ready to train: plan, networks and history, restored from a checkpoint if any."""

    run_dir: Path
    spec_dict: dict[str, Any]
    plan: Plan
    parts: GanParts
    history: LossHistory
    dataset: Dataset
    start: int
    preflight: dict[str, Any]


def prepare(spec: JobSpec, run_dir: Path, dataset: Dataset | None = None) -> Session:
    """Load data, resolve the plan, build the networks; resume or run the pre-flight checks."""
    configure_threads()
    run_dir.mkdir(parents=True, exist_ok=True)
    family = get_family(spec.model)
    data = dataset or load_dataset(spec.resolved_dataset(), family, spec.training.seed)
    plan = make_plan(spec, len(data.train))
    plan.runtime.apply_math_mode()
    spec_dict = spec.model_dump(mode="json")
    _write_json(run_dir / "spec.json", spec_dict)
    _write_json(run_dir / "plan.json", plan.describe())
    parts = build_parts(plan)
    history = LossHistory(plan.record_every)
    start, checks = 0, {}
    found = checkpoint.latest_checkpoint(run_dir / "checkpoints")
    if found is not None:
        start, history = checkpoint.load_checkpoint(found, parts, spec_dict)
    elif spec.training.preflight:
        checks = run_preflight(parts, data.train)
    return Session(run_dir, spec_dict, plan, parts, history, data, start, checks)


def train(
    spec: JobSpec,
    run_dir: Path,
    on_progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    dataset: Dataset | None = None,
    *,
    checkpoint_min_s: float = 0.0,
    on_live: LiveFn | None = None,
) -> TrainResult:
    """Train ``spec`` into ``run_dir``, resuming from its newest checkpoint if there is one.

    ``checkpoint_min_s`` skips a periodic checkpoint that would come sooner than this many seconds
    after the last one; the final and the stop checkpoints are always written.
    """
    session = prepare(spec, run_dir, dataset)
    return run(
        session, on_progress, should_stop, checkpoint_min_s=checkpoint_min_s, on_live=on_live
    )


def run(
    session: Session,
    on_progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    *,
    checkpoint_min_s: float = 0.0,
    on_live: LiveFn | None = None,
) -> TrainResult:
    """Train a prepared session to its last step, or until ``should_stop`` says so."""
    began = time.perf_counter()
    checkpoints = _Checkpoints(session, checkpoint_min_s)
    live = _Live(session, on_live) if on_live is not None else None
    status = _loop(session, on_progress, should_stop, checkpoints, live)
    session.history.flush()
    return TrainResult(
        status=status,
        steps=session.history.g_calls,  # one G update per step, in both modes
        resumed_from=session.start,
        history=session.history,
        plan=session.plan,
        parts=session.parts,
        dataset=session.dataset,
        preflight=session.preflight,
        seconds=time.perf_counter() - began,
    )


def run_preflight(parts: GanParts, data: Split) -> dict[str, Any]:
    return {
        "discriminator": preflight.check_discriminator_learns(parts, data),
        "generator": preflight.check_generator_output(parts),
    }


def _loop(
    session: Session,
    on_progress: ProgressFn | None,
    should_stop: StopFn | None,
    checkpoints: _Checkpoints,
    live: _Live | None = None,
) -> str:
    plan, parts, history, data = session.plan, session.parts, session.history, session.dataset.train
    device = plan.runtime.device
    home = dataset_home(data.images.nbytes, device)  # the device, unless the data is too big there
    images = data.images.to(home)
    if plan.family.conv:
        images = images.contiguous(memory_format=torch.channels_last)
    labels = data.labels.to(home) if data.labels is not None and plan.family.num_classes else None
    step_fn = book_step if plan.mode == "book" else batched_step
    every = max(1, plan.total_steps // PROGRESS_UPDATES)
    clock = _Clock(session.start)
    order, order_epoch = torch.empty(0), -1
    parts.generator.train()
    parts.discriminator.train()
    for step in range(session.start, plan.total_steps):
        if should_stop is not None and should_stop():
            checkpoints.save(step)
            return "stopped"
        epoch, index = divmod(step, plan.steps_per_epoch)
        if epoch != order_epoch:
            order, order_epoch = epoch_order(plan, epoch, len(data)).to(home), epoch
        batch = order[index * plan.batch_size : (index + 1) * plan.batch_size]
        real = as_float(images[batch].to(device, non_blocking=True))
        label = None if labels is None else labels[batch].to(device, non_blocking=True)
        stats = step_fn(parts, history, real, label)
        done = step + 1
        if done == plan.total_steps or checkpoints.due(done):
            checkpoints.save(done)
        first = step == session.start  # report at once, so a watcher sees training began
        if on_progress is not None and (first or done % every == 0 or done == plan.total_steps):
            on_progress(_progress(plan, history, stats, done, clock, checkpoints.step))
        if live is not None and live.due(done, first):
            live.call(done)
    return "completed"


class _Live:
    """When live outputs are due: the first step (noise), then epoch ends at most every
    LIVE_MIN_S, and every LIVE_MAX_S within long epochs; not the last step (the final outputs
    come then)."""

    def __init__(self, session: Session, fn: LiveFn) -> None:
        self.session, self.fn = session, fn
        self.last = time.perf_counter()

    def due(self, done: int, first: bool) -> bool:
        plan = self.session.plan
        if done == plan.total_steps:
            return False
        since = time.perf_counter() - self.last
        epoch_end = done % plan.steps_per_epoch == 0
        return first or (epoch_end and since >= LIVE_MIN_S) or since >= LIVE_MAX_S

    def call(self, done: int) -> None:
        self.fn(done, self.session.history, self.session.parts.final_generator)
        self.last = time.perf_counter()


class _Checkpoints:
    """Writes the session's checkpoints, at most one per ``min_s`` seconds on the periodic steps."""

    def __init__(self, session: Session, min_s: float) -> None:
        self.session = session
        self.min_s = min_s
        self.step = session.start  # the newest checkpoint on disk (or the start, when none)
        self.written = time.perf_counter()  # training began or resumed: as good as a checkpoint

    def due(self, done: int) -> bool:
        """Whether ``done`` is a checkpoint step and enough time passed since the last one."""
        periodic = done % self.session.plan.checkpoint_every == 0
        return periodic and time.perf_counter() - self.written >= self.min_s

    def save(self, step: int) -> None:
        session = self.session
        folder = session.run_dir / "checkpoints"
        checkpoint.save_checkpoint(folder, session.parts, session.history, step, session.spec_dict)
        self.step, self.written = step, time.perf_counter()


class _Clock:
    """Samples/s and ETA since this process started (or resumed) training."""

    def __init__(self, start_step: int) -> None:
        self.start_step = start_step
        self.started = time.perf_counter()

    def rates(self, done: int, total: int, batch: int) -> tuple[float, float]:
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        steps_per_s = (done - self.start_step) / elapsed
        eta = (total - done) / steps_per_s if steps_per_s > 0 else float("inf")
        return steps_per_s * batch, eta


def _progress(
    plan: Plan,
    history: LossHistory,
    stats: StepStats,
    done: int,
    clock: _Clock,
    checkpoint_step: int,
) -> Progress:
    history.flush()
    samples_per_s, eta = clock.rates(done, plan.total_steps, plan.batch_size)
    return Progress(
        epoch=min(plan.epochs, (done - 1) // plan.steps_per_epoch + 1),
        epochs=plan.epochs,
        step=done,
        total_steps=plan.total_steps,
        d_loss=history.d_loss[-1] if history.d_loss else None,
        g_loss=history.g_loss[-1] if history.g_loss else None,
        d_real=float(stats.d_real),
        d_fake=float(stats.d_fake),
        samples_per_s=samples_per_s,
        eta_s=eta,
        checkpoint_step=checkpoint_step,
    )


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    path.write_text(json.dumps(payload, indent=2) + "\n")
