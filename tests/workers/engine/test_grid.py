from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from workers.engine.generation import grid
from workers.engine.plots import CELL, image_grid


def hand_tiled(images: torch.Tensor, columns: int, padding: int = 2) -> torch.Tensor:
    """The grid as it was tiled by hand before torchvision did it."""
    count, channels, height, width = images.shape
    columns = max(1, min(columns, count))
    rows = -(-count // columns)
    cell_h, cell_w = height + padding, width + padding
    canvas = torch.full((channels, rows * cell_h + padding, columns * cell_w + padding), 0.5)
    for index in range(count):
        top = (index // columns) * cell_h + padding
        left = (index % columns) * cell_w + padding
        canvas[:, top : top + height, left : left + width] = images[index]
    return canvas


@pytest.mark.parametrize(
    ("count", "channels", "columns"),
    [(1, 1, 4), (1, 3, 1), (5, 1, 2), (6, 3, 3), (7, 3, 10), (4, 1, 0)],
)
def test_grid_matches_the_hand_tiled_grid(count: int, channels: int, columns: int) -> None:
    images = torch.rand(count, channels, 5, 7, generator=torch.Generator().manual_seed(count))
    tiled = grid(images, columns)
    assert tiled.dtype == torch.float32
    assert torch.equal(tiled, hand_tiled(images, columns))


def test_grid_shape_and_padding() -> None:
    tiled = grid(torch.zeros(10, 1, 28, 28), columns=4)
    assert tiled.shape == (1, 3 * 30 + 2, 4 * 30 + 2)  # one channel stays one channel
    assert tiled[0, 0, 0] == 0.5 and tiled[0, 2, 2] == 0.0
    assert torch.all(tiled[:, 62:, 62:] == 0.5)  # the two empty cells of the last row


def test_image_grid_scales_by_nearest_neighbour(tmp_path: Path) -> None:
    images = torch.rand(3, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    picture = np.asarray(Image.open(image_grid(images, 2, tmp_path / "g.png", scale=3)))
    tiled = (hand_tiled(images, 2).permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
    assert picture.shape == (3 * (2 * 6 + 2), 3 * (2 * 6 + 2), 3)
    assert np.array_equal(picture, tiled.repeat(3, axis=0).repeat(3, axis=1))


def test_image_grid_draws_1010_patterns_as_grey_strips(tmp_path: Path) -> None:
    patterns = torch.tensor([[1.0, 0.0, 1.0, 0.0], [0.9, 0.1, 0.8, 0.0]])
    picture = Image.open(image_grid(patterns, 1, tmp_path / "p.png"))
    assert picture.mode == "L"
    assert picture.size == (4 * CELL + 4, 2 * (CELL + 2) + 2)  # no upscale for strips
    assert picture.getpixel((2, 2)) == 255 and picture.getpixel((2 + CELL, 2)) == 0
