"""Training's side of CelebA: an HDF5 file of either layout as tensors, one by one or all at once.

Faces stay uint8 until a batch is drawn (a quarter of float32's memory), and a load that the
host cannot hold is refused up front with the limit that would fit, not left to the OOM killer.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from tqdm import tqdm

from workers.engine.celeba.layout import (
    BOOK_GROUP,
    CROP,
    CROP_SIZE,
    FORMAT,
    FULL_SHAPE,
    CelebaError,
    Layout,
)
from workers.engine.memory import HOST_SHARE, available_host_bytes

LOAD_BATCH = 256  # images per contiguous slice read by load_pixels

_BOOK_NAME = re.compile(r"(0|[1-9][0-9]*)\.jpg")  # as the book numbers them: no leading zeros


class CelebaImages(torch.utils.data.Dataset[torch.Tensor]):
    """Images of a CelebA HDF5 file (either layout) as float32 (3, H, W) tensors in [0, 1].

    The file is opened lazily in each process, so DataLoader workers each get their own handle.
    """

    def __init__(self, path: Path, crop: bool) -> None:
        self.path = Path(path)
        self.crop = crop
        self.layout, self._length = inspect_hdf5(self.path)
        self._file: h5py.File | None = None
        self._node: Any = None  # the 'images' dataset or the book's group, in this process
        self._pid: int | None = None

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index: int) -> torch.Tensor:
        return to_tensor(self.pixels(index), self.crop)

    def pixels(self, index: int) -> np.ndarray:
        """Image ``index`` as the stored (218, 178, 3) uint8 array."""
        if not -self._length <= index < self._length:
            raise IndexError(f"{self.path}: image {index} out of range for {self._length} images")
        index %= self._length
        node = self._open()
        if self.layout == "project":
            return self._read(node, index, f"images[{index}]")
        name = f"{index}.jpg"
        dataset = node.get(name)
        if not isinstance(dataset, h5py.Dataset):
            raise CelebaError(f"{self.path}: dataset '{BOOK_GROUP}/{name}' is missing")
        _check_image_dataset(self.path, f"{BOOK_GROUP}/{name}", dataset.shape, dataset.dtype)
        return self._read(dataset, (), f"{BOOK_GROUP}/{name}")

    def block(self, start: int, stop: int) -> np.ndarray:
        """Images ``start:stop`` as (N, 218, 178, 3) uint8: one contiguous read (project layout)."""
        if self.layout != "project":
            return np.stack([self.pixels(i) for i in range(start, stop)])
        return self._read(self._open(), slice(start, stop), f"images[{start}:{stop}]")

    def close(self) -> None:
        """Close this process's handle; the next read opens a new one."""
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file, self._node, self._pid = None, None, None

    def _open(self) -> Any:
        # A handle inherited through fork is the parent's: HDF5 state must not cross processes.
        if self._node is None or self._pid != os.getpid():
            self._file = _open_hdf5(self.path)
            self._node = self._file["images" if self.layout == "project" else BOOK_GROUP]
            self._pid = os.getpid()
        return self._node

    def _read(self, node: h5py.Dataset, where: Any, name: str) -> np.ndarray:
        try:
            return np.asarray(node[where])
        except (OSError, KeyError) as error:  # HDF5 reports damaged data as OSError
            raise CelebaError(f"{self.path}: cannot read {name} ({error})") from None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()  # spawn/forkserver workers pickle the dataset: no handle
        state["_file"], state["_node"], state["_pid"] = None, None, None
        return state


def inspect_hdf5(path: Path) -> tuple[Layout, int]:
    """The layout and image count of a CelebA HDF5 file, checked with a short-lived handle."""
    with _open_hdf5(path) as f:
        try:
            return _inspect(path, f)
        except (OSError, KeyError) as error:  # metadata that opens but cannot be read
            raise CelebaError(f"{path}: damaged HDF5 file ({error})") from None


def _open_hdf5(path: Path) -> h5py.File:
    if not path.is_file():
        raise CelebaError(f"{path}: no such file; build it with build_hdf5 from the CelebA zip")
    try:
        return h5py.File(path, "r")
    except OSError as error:
        raise CelebaError(
            f"{path}: not a readable HDF5 file: truncated, or not HDF5 at all ({error})"
        ) from None


def _inspect(path: Path, f: h5py.File) -> tuple[Layout, int]:
    if f.attrs.get("format") == FORMAT and not f.attrs.get("complete", False):
        raise CelebaError(
            f"{path}: an unfinished build ({f.attrs.get('done')} of {f.attrs.get('count')} "
            "images); run build_hdf5 again with the same arguments to finish it"
        )
    if "images" in f:
        images = f["images"]
        if not isinstance(images, h5py.Dataset):
            raise CelebaError(f"{path}: 'images' is not a dataset")
        if len(images.shape) != 4 or images.shape[0] == 0:
            raise CelebaError(
                f"{path}: dataset 'images' has shape {images.shape}; expected (N, 218, 178, 3)"
            )
        _check_image_dataset(path, "images", images.shape[1:], images.dtype)
        return "project", int(images.shape[0])
    if BOOK_GROUP in f:
        group = f[BOOK_GROUP]
        if not isinstance(group, h5py.Group):
            raise CelebaError(f"{path}: {BOOK_GROUP!r} is not a group")
        numbers = {int(m[1]) for name in group if (m := _BOOK_NAME.fullmatch(name))}
        if not numbers:
            raise CelebaError(f"{path}: group {BOOK_GROUP!r} holds no datasets named 0.jpg, ...")
        missing = next((i for i in range(len(numbers)) if i not in numbers), None)
        if missing is not None:
            raise CelebaError(
                f"{path}: dataset '{BOOK_GROUP}/{missing}.jpg' is missing; the book's layout "
                f"numbers images 0.jpg to {len(numbers) - 1}.jpg without gaps"
            )
        for i in (0, len(numbers) - 1):  # the rest are checked as they are read
            name = f"{BOOK_GROUP}/{i}.jpg"
            dataset = f[name]
            if not isinstance(dataset, h5py.Dataset):
                raise CelebaError(f"{path}: {name!r} is not a dataset")
            _check_image_dataset(path, name, dataset.shape, dataset.dtype)
        return "book", len(numbers)
    raise CelebaError(
        f"{path}: holds neither an 'images' dataset (project layout) nor an {BOOK_GROUP!r} "
        "group (the book's layout); build it with build_hdf5 from the CelebA zip"
    )


def _check_image_dataset(path: Path, name: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
    if tuple(shape) != FULL_SHAPE or dtype != np.uint8:
        raise CelebaError(
            f"{path}: {name!r} holds {dtype} images of shape {tuple(shape)}; expected uint8 "
            f"{FULL_SHAPE} (height, width, RGB) as in CelebA's img_align_celeba"
        )


def to_tensor(pixels: np.ndarray, crop: bool) -> torch.Tensor:
    """(..., 218, 178, 3) uint8 -> (..., 3, H, W) float32 in [0, 1], centre-cropped if ``crop``."""
    # numpy, not torch: torch's small-tensor ops stall on a busy machine's thread pool, and
    # one ufunc does the crop copy, transpose and scaling in a single pass.
    scaled = np.divide(_channels_first(pixels, crop), np.float32(255), dtype=np.float32, order="C")
    return torch.from_numpy(scaled)


def to_pixels(pixels: np.ndarray, crop: bool) -> torch.Tensor:
    """(..., 218, 178, 3) uint8 -> (..., 3, H, W) uint8, centre-cropped if ``crop``."""
    return torch.from_numpy(np.ascontiguousarray(_channels_first(pixels, crop)))


def _channels_first(pixels: np.ndarray, crop: bool) -> np.ndarray:
    if crop:
        pixels = pixels[..., CROP[0], CROP[1], :]
    return np.moveaxis(pixels, -1, -3)


def load_pixels(
    path: Path, crop: bool, limit: int | None = None, progress: bool = False
) -> torch.Tensor:
    """The first ``limit`` images (all if None) in memory as uint8 (N, 3, H, W).

    uint8 is how training keeps faces (a quarter of float32's memory); each block is copied
    straight into its place, so the peak is the result plus one block.
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit must not be negative, not {limit}")
    images = CelebaImages(path, crop)
    count = len(images) if limit is None else min(limit, len(images))
    height, width = CROP_SIZE if crop else FULL_SHAPE[:2]
    _check_room(path, count, 3 * height * width)
    out = torch.empty((count, 3, height, width), dtype=torch.uint8)
    into = out.numpy()  # shares memory with ``out``
    try:
        with tqdm(total=count, unit="img", desc=Path(path).name, disable=not progress) as bar:
            for start in range(0, count, LOAD_BATCH):
                stop = min(start + LOAD_BATCH, count)
                into[start:stop] = _channels_first(images.block(start, stop), crop)
                bar.update(stop - start)
    finally:
        images.close()
    return out


def _check_room(path: Path, count: int, image_bytes: int) -> None:
    """Refuse, with the limit that would fit, a load the host's free memory cannot hold."""
    free = available_host_bytes()
    if free is None or count * image_bytes <= HOST_SHARE * free:
        return
    fits = int(HOST_SHARE * free) // image_bytes
    raise CelebaError(
        f"{path}: {count:,} images need {count * image_bytes / 1e9:.1f} GB of memory and this "
        f"machine has {free / 1e9:.1f} GB free; set dataset.limit to {fits:,} or fewer"
    )


def load_images(
    path: Path, crop: bool, limit: int | None = None, progress: bool = False
) -> torch.Tensor:
    """As ``load_pixels``, as float32 in [0, 1]."""
    return load_pixels(path, crop, limit, progress).float().div_(255)
