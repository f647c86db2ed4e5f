"""Checkpoints: G, D, optimisers, step, RNG states, history and spec; written atomically."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from workers.engine.history import LossHistory
from workers.engine.steps import GanParts

CHECKPOINT_FORMAT = 1
KEEP_LAST = 2


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed from."""


def save_checkpoint(
    folder: Path, parts: GanParts, history: LossHistory, step: int, spec: dict[str, Any]
) -> Path:
    """Write ``step-<n>.pt`` (via a temporary file and rename) and keep the last two."""
    folder.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "step": step,
        "generator": parts.generator.state_dict(),
        "discriminator": parts.discriminator.state_dict(),
        "g_optimizer": parts.g_optimizer.state_dict(),
        "d_optimizer": parts.d_optimizer.state_dict(),
        "scaler": parts.scaler.state_dict(),
        "noise_rng": parts.noise.get_state(),
        "torch_rng": torch.get_rng_state(),
        "history": history.to_dict(),
        "spec": spec,
    }
    path = folder / f"step-{step:010d}.pt"
    temporary = path.with_suffix(".tmp")
    torch.save(payload, temporary)
    os.replace(temporary, path)
    for old in sorted(folder.glob("step-*.pt"))[:-KEEP_LAST]:
        old.unlink(missing_ok=True)
    return path


def latest_checkpoint(folder: Path) -> Path | None:
    found = sorted(folder.glob("step-*.pt")) if folder.is_dir() else []
    return found[-1] if found else None


def load_checkpoint(path: Path, parts: GanParts, spec: dict[str, Any]) -> tuple[int, LossHistory]:
    """Restore ``parts`` in place; returns the step to continue from and the history so far."""
    try:
        # via the CPU: load_state_dict moves each tensor to its parameter's device, and Adam's
        # step counters stay on the CPU (on the GPU every step would wait to read them)
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a truncated or foreign file: say which one
        raise CheckpointError(f"{path}: cannot be loaded ({error})") from None
    if payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: unknown checkpoint format {payload.get('format')!r}")
    if payload["spec"] != spec:
        raise CheckpointError(
            f"{path}: this run folder holds a checkpoint of a different job spec; "
            "use a new output folder or the same spec"
        )
    try:
        parts.generator.load_state_dict(payload["generator"])
        parts.discriminator.load_state_dict(payload["discriminator"])
        parts.g_optimizer.load_state_dict(payload["g_optimizer"])
        parts.d_optimizer.load_state_dict(payload["d_optimizer"])
        if payload["scaler"] and parts.scaler.is_enabled():  # saved empty where no fp16 ran
            parts.scaler.load_state_dict(payload["scaler"])
        parts.noise.set_state(payload["noise_rng"])
        torch.set_rng_state(payload["torch_rng"])
        return int(payload["step"]), LossHistory.from_dict(payload["history"])
    except (KeyError, RuntimeError, ValueError, TypeError) as error:
        raise CheckpointError(f"{path}: cannot be resumed from ({error})") from None
