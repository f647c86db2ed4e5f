"""Generation from a trained generator: by label and seed, and the book's seed experiments.

Imports torch and the architecture module only (never torchvision), so serving can
use it without the trainer.
``generator.pt`` is a plain dict (see ``workers.engine.export``) loaded with ``weights_only=True``.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

if __package__:
    from .networks import build, latents
else:  # inside a TorchServe archive the modules lie side by side, outside any package
    from networks import build, latents  # type: ignore[no-redef]

ARTIFACT_FORMAT = 1


class ArtifactError(ValueError):
    """A generator artifact that cannot be loaded."""


def load_artifact(
    path: Path | str, device: torch.device | str = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the generator from ``generator.pt``; returns it in eval mode and the metadata."""
    try:
        artifact = torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise ArtifactError(f"{path}: file not found") from None
    except Exception as error:
        raise ArtifactError(f"{path}: not a generator artifact ({error})") from None
    if not isinstance(artifact, dict) or artifact.get("format") != ARTIFACT_FORMAT:
        raise ArtifactError(f"{path}: unknown artifact format (expected format {ARTIFACT_FORMAT})")
    generator = build(artifact["class_name"], artifact["kwargs"])
    generator.load_state_dict(artifact["state_dict"])
    meta = {key: value for key, value in artifact.items() if key != "state_dict"}
    return generator.to(device).eval(), meta


def check_request(generator: nn.Module, count: int, labels: list[int] | None) -> None:
    """Refuse labels for an unconditional generator and missing or out-of-range ones otherwise."""
    classes = int(getattr(generator, "num_classes", 0))
    if classes == 0:
        if labels is not None:
            raise ValueError("this generator is unconditional: do not send a label")
        return
    if labels is None:
        raise ValueError(f"this generator is conditional: send a label in 0-{classes - 1}")
    if len(labels) != count:
        raise ValueError(f"got {len(labels)} labels for {count} images")
    bad = [label for label in labels if not 0 <= label < classes]
    if bad:
        raise ValueError(f"label {bad[0]} is out of range: use 0-{classes - 1}")


@torch.no_grad()
def generate_from_latents(
    generator: nn.Module, z: torch.Tensor, labels: list[int] | None = None
) -> torch.Tensor:
    """Images (B, *output_shape) in [0, 1] for latents z (B, z_dim)."""
    check_request(generator, z.shape[0], labels)
    device = next(generator.parameters()).device
    label_tensor = None if labels is None else torch.tensor(labels, device=device)
    return generator(z.to(device), label_tensor).float().cpu()


def seed_latents(generator: nn.Module, seeds: list[int]) -> torch.Tensor:
    """One latent per seed (B, z_dim), from the generator's own latent kind."""
    z_dim, kind = cast(int, generator.z_dim), cast(str, generator.latent)
    return latents(seeds, z_dim, kind)


def generate(
    generator: nn.Module, seeds: list[int], labels: list[int] | None = None
) -> torch.Tensor:
    """Images for these seeds (and labels): the same seed and label give the same image."""
    return generate_from_latents(generator, seed_latents(generator, seeds), labels)


def interpolate(z_from: torch.Tensor, z_to: torch.Tensor, steps: int) -> torch.Tensor:
    """``steps`` latents from z_from to z_to, both ends included (the book: 12 steps, k/11)."""
    if steps < 2:
        raise ValueError("interpolation needs at least 2 steps")
    k = torch.linspace(0, 1, steps).unsqueeze(1)  # (steps, 1)
    return z_from.unsqueeze(0) + (z_to - z_from).unsqueeze(0) * k  # (steps, z_dim)


def seed_arithmetic(z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
    """The book's seed arithmetic: rows a, b, a + b, a - b (4, z_dim)."""
    return torch.stack([z_a, z_b, z_a + z_b, z_a - z_b])


def grid(
    images: torch.Tensor, columns: int, padding: int = 2, pad_value: float = 0.5
) -> torch.Tensor:
    """Tile images (N, C, H, W) into one image (C, rows*(H+p)+p, columns*(W+p)+p).

    Plain torch, not torchvision's make_grid: a served model's worker would pay ~2 s of CPU to
    import torchvision, and after a TorchServe restart every model's worker starts at once.
    """
    images = images.to("cpu", torch.float32)
    count, channels, height, width = images.shape
    if count == 0:
        raise ValueError("no images to tile")
    columns = max(1, min(columns, count))
    rows = -(-count // columns)
    cell_h, cell_w = height + padding, width + padding
    cells = torch.full((rows * columns, channels, cell_h, cell_w), pad_value)
    cells[:count, :, padding:, padding:] = images  # each cell: padding above and to the left
    tiled = cells.view(rows, columns, channels, cell_h, cell_w).permute(2, 0, 3, 1, 4)
    flat = tiled.reshape(channels, rows * cell_h, columns * cell_w)
    return nn.functional.pad(flat, (0, padding, 0, padding), value=pad_value)


def to_png(image: torch.Tensor) -> bytes:
    """One image (C, H, W) or (H, W) in [0, 1], or a 1-d vector drawn as a strip, as PNG bytes."""
    from PIL import Image  # imported here: only PNG callers need pillow

    array = image.detach().float().clamp(0, 1)
    if array.dim() == 1:
        array = array.unsqueeze(0)  # (1, N): a strip of cells
    if array.dim() == 3:
        array = array[0] if array.shape[0] == 1 else array.permute(1, 2, 0)
    pixels = (array * 255).round().to(torch.uint8).numpy()
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()
