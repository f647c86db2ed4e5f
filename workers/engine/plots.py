"""Pictures people would rather look at than read: the loss plot and sample grids."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no screen
import matplotlib.pyplot as plt
import numpy as np
import torch
from PIL import Image

from workers.engine.generation import grid
from workers.engine.history import LossHistory

CELL = 64  # pixels per value when a 1010 sample is drawn as a strip of cells


def loss_plot(history: LossHistory, ideal: float, loss_name: str, path: Path) -> Path:
    """D and G losses as the book draws them (dots, alpha 0.1, y from 0), with the ideal line."""
    history.flush()
    figure, axes = plt.subplots(1, 2, figsize=(12, 4), sharey=True)
    for axis, values, name, colour in (
        (axes[0], history.d_loss, "discriminator", "tab:blue"),
        (axes[1], history.g_loss, "generator", "tab:orange"),
    ):
        calls = [history.record_every * (i + 1) for i in range(len(values))]
        dense = len(values) > 2000  # the book's alpha 0.1 suits its long histories
        axis.plot(calls, values, ".", alpha=0.1 if dense else 0.4, color=colour, markersize=3)
        if len(values) >= 50:
            window = len(values) // 50
            smooth = np.convolve(values, np.ones(window) / window, mode="valid")
            axis.plot(
                calls[window - 1 :], smooth, color=colour, linewidth=1.5, label="running mean"
            )
        axis.axhline(ideal, color="black", linestyle="--", linewidth=1, label=f"ideal {ideal:.3f}")
        axis.set_title(f"{name} loss ({loss_name})")
        axis.set_xlabel("training calls")
        axis.set_ylim(bottom=0)
        axis.set_yticks(
            [0, 0.25, 0.5, 1.0, 5.0] if max(values, default=0) > 1 else [0, 0.25, 0.5, 1.0]
        )
        axis.grid(True, alpha=0.3)
        axis.legend(loc="upper right")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def image_grid(images: torch.Tensor, columns: int, path: Path, scale: int = 2) -> Path:
    """Save images (N, C, H, W) in [0, 1], or 1010 patterns (N, 4), as one PNG grid."""
    if images.dim() == 2:  # (N, 4) → (N, 1, CELL, 4*CELL) strips
        images = images.repeat_interleave(CELL, dim=1).unsqueeze(1).repeat(1, CELL, 1).unsqueeze(1)
        scale = 1
    tiled = grid(images.float().clamp(0, 1), columns)  # (C, H, W)
    # Not save_image: it would store grey grids as RGB and truncate where this rounds.
    pixels = (tiled.permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
    picture = Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels)
    if scale > 1:
        picture = picture.resize(
            (picture.width * scale, picture.height * scale), Image.Resampling.NEAREST
        )
    picture.save(path)
    return path
