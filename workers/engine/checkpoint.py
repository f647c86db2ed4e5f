"""Checkpoints: G, D, optimisers, step, RNG states, history counts and spec; written atomically.

The loss values go to append-only files beside the checkpoints (``d_loss.f32``, ``g_loss.f32``:
raw little-endian float32), and a checkpoint records only how many entries of each are its
history, so checkpoints keep one size however long the run. Format 1 held the whole history.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from workers.engine.history import LossHistory
from workers.engine.steps import GanParts
from workers.spec import JobSpec

CHECKPOINT_FORMAT = 2
READABLE_FORMATS = (1, 2)
KEEP_LAST = 2
LOSS_DTYPE = np.dtype("<f4")  # the losses are float32 (``.float()``), so stored exactly
D_LOSS_FILE = "d_loss.f32"
G_LOSS_FILE = "g_loss.f32"


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed from."""


def save_checkpoint(
    folder: Path, parts: GanParts, history: LossHistory, step: int, spec: dict[str, Any]
) -> Path:
    """Append the new losses, write ``step-<n>.pt`` (temporary file and rename), keep the last two."""
    folder.mkdir(parents=True, exist_ok=True)
    # with no checkpoint yet, whatever the loss files hold belongs to none: start them afresh
    _sync_losses(folder, history, fresh=latest_checkpoint(folder) is None)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "step": step,
        "generator": parts.generator.state_dict(),
        "ema": None if parts.ema is None else parts.ema.state_dict(),
        "ema_updates": parts.ema_updates,
        "discriminator": parts.discriminator.state_dict(),
        "g_optimizer": parts.g_optimizer.state_dict(),
        "d_optimizer": parts.d_optimizer.state_dict(),
        "scaler": parts.scaler.state_dict(),
        "noise_rng": parts.noise.get_state(),
        "torch_rng": torch.get_rng_state(),
        "history": history.counts(),
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
    """Restore ``parts`` in place; returns the step to continue from and the history so far.

    The loss files are cut back to this checkpoint's history (a worker killed between appending
    and renaming leaves extra entries), so the next save appends right after it.
    """
    payload = _read_payload(path, spec)
    try:
        history = _read_history(path, payload)
        _restore(parts, payload)
        step = int(payload["step"])
    except CheckpointError:
        raise
    except (KeyError, RuntimeError, ValueError, TypeError) as error:
        raise CheckpointError(f"{path}: cannot be resumed from ({error})") from None
    # format 1 kept its history inside: write it out, so format-2 saves can append to it
    _sync_losses(path.parent, history, fresh=payload["format"] == 1)
    return step, history


def _read_payload(path: Path, spec: dict[str, Any]) -> dict[str, Any]:
    try:
        # via the CPU: load_state_dict moves each tensor to its parameter's device, and Adam's
        # step counters stay on the CPU (on the GPU every step would wait to read them)
        payload: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a truncated or foreign file: say which one
        raise CheckpointError(f"{path}: cannot be loaded ({error})") from None
    if payload.get("format") not in READABLE_FORMATS:
        raise CheckpointError(f"{path}: unknown checkpoint format {payload.get('format')!r}")
    if payload["spec"] != spec and _with_defaults(payload["spec"]) != spec:
        raise CheckpointError(
            f"{path}: this run folder holds a checkpoint of a different job spec; "
            "use a new output folder or the same spec"
        )
    return payload


def _with_defaults(saved: dict[str, Any]) -> dict[str, Any] | None:
    """A spec saved before a field was added, with that field's default: the same job."""
    try:
        return JobSpec.model_validate(saved).model_dump(mode="json")
    except ValueError:
        return None


def _restore(parts: GanParts, payload: dict[str, Any]) -> None:
    parts.generator.load_state_dict(payload["generator"])
    if parts.ema is not None:  # a checkpoint from before averages: the average starts at G
        parts.ema.load_state_dict(payload.get("ema") or payload["generator"])
        parts.ema_updates = int(payload.get("ema_updates", 0))
    parts.discriminator.load_state_dict(payload["discriminator"])
    parts.g_optimizer.load_state_dict(payload["g_optimizer"])
    parts.d_optimizer.load_state_dict(payload["d_optimizer"])
    if payload["scaler"] and parts.scaler.is_enabled():  # saved empty where no fp16 ran
        parts.scaler.load_state_dict(payload["scaler"])
    parts.noise.set_state(payload["noise_rng"])
    torch.set_rng_state(payload["torch_rng"])


def _read_history(path: Path, payload: dict[str, Any]) -> LossHistory:
    counts = payload["history"]
    if payload["format"] == 1:
        return LossHistory.from_dict(counts)
    d_loss = _read_losses(path.parent / D_LOSS_FILE, int(counts["d_loss_length"]), path)
    g_loss = _read_losses(path.parent / G_LOSS_FILE, int(counts["g_loss_length"]), path)
    return LossHistory.from_counts(counts, d_loss, g_loss)


def _read_losses(path: Path, length: int, checkpoint: Path) -> list[float]:
    """The first ``length`` losses in ``path``; a CheckpointError if it holds fewer."""
    wanted = length * LOSS_DTYPE.itemsize
    try:
        with path.open("rb") as file:
            data = file.read(wanted)
    except FileNotFoundError:
        raise CheckpointError(
            f"{path}: missing; {checkpoint.name} records {length} losses in it"
        ) from None
    if len(data) < wanted:
        raise CheckpointError(
            f"{path}: holds {len(data) // LOSS_DTYPE.itemsize} losses, but {checkpoint.name} "
            f"records {length}; the file was cut short"
        )
    return np.frombuffer(data, dtype=LOSS_DTYPE).tolist()


def _sync_losses(folder: Path, history: LossHistory, fresh: bool) -> None:
    history.flush()
    _sync_loss_file(folder / D_LOSS_FILE, history.d_loss, fresh)
    _sync_loss_file(folder / G_LOSS_FILE, history.g_loss, fresh)


def _sync_loss_file(path: Path, values: list[float], fresh: bool) -> None:
    """Make ``path`` hold ``values`` and fsync it, writing only the entries it does not hold yet.

    The entries already there are taken as the first of ``values`` (all of them unless ``fresh``);
    entries beyond ``values`` belong to no checkpoint and are cut off.
    """
    size = 0 if fresh or not path.exists() else path.stat().st_size
    kept = min(size // LOSS_DTYPE.itemsize, len(values))
    with path.open("ab") as file:
        file.truncate(kept * LOSS_DTYPE.itemsize)
        file.write(np.asarray(values[kept:], dtype=LOSS_DTYPE).tobytes())
        file.flush()
        os.fsync(file.fileno())
