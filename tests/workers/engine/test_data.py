from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from workers.engine.data import (
    fake_dataset,
    load_dataset,
    pattern_1010,
    read_idx,
    read_mnist_csv,
    read_mnist_idx,
)
from workers.engine.datasets import DataError
from workers.engine.families import get_family
from workers.spec import DatasetSpec


def digits(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 784)), rng.integers(0, 10, n)


def write_csv(path: Path, pixels: np.ndarray, labels: np.ndarray) -> Path:
    rows = [
        ",".join(str(v) for v in [label, *row]) for row, label in zip(pixels, labels, strict=True)
    ]
    path.write_text("\n".join(rows) + "\n")
    return path


def write_idx(folder: Path, prefix: str, pixels: np.ndarray, labels: np.ndarray, gz: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    images = struct.pack(">IIII", 0x0803, len(pixels), 28, 28) + pixels.astype(np.uint8).tobytes()
    marks = struct.pack(">II", 0x0801, len(labels)) + labels.astype(np.uint8).tobytes()
    for name, body in (
        (f"{prefix}-images-idx3-ubyte", images),
        (f"{prefix}-labels-idx1-ubyte", marks),
    ):
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(body))
        else:
            (folder / name).write_bytes(body)


def test_builtin_sample_is_a_deterministic_stratified_split(mnist_sample) -> None:  # type: ignore[no-untyped-def]
    train, test = mnist_sample
    assert train.images.shape == (4000, 1, 28, 28) and test.images.shape == (1000, 1, 28, 28)
    assert torch.bincount(train.labels).tolist() == [400] * 10
    assert torch.bincount(test.labels).tolist() == [100] * 10
    assert float(train.images.min()) >= 0 and float(train.images.max()) <= 1
    assert float(train.images.max()) == 1.0  # real digits reach full intensity
    assert (train.labels[1:] != train.labels[:-1]).float().mean() > 0.8  # shuffled, not sorted


def test_csv_round_trip_scales_pixels(tmp_path: Path) -> None:
    pixels, labels = digits(7)
    split = read_mnist_csv(write_csv(tmp_path / "mnist_train.csv", pixels, labels))
    assert split.labels.tolist() == labels.tolist()
    expected = torch.tensor(pixels, dtype=torch.float32).view(-1, 1, 28, 28) / 255
    assert torch.allclose(split.images, expected)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda rows: rows.__setitem__(2, rows[2] + ",5"), "line 3: 786 columns, expected 785"),
        (lambda rows: rows.__setitem__(1, rows[1].rsplit(",", 1)[0]), "line 2: 784 columns"),
        (
            lambda rows: rows.__setitem__(3, rows[3].rsplit(",", 1)[0] + ",256"),
            "line 4: pixel value 256",
        ),
        (
            lambda rows: rows.__setitem__(0, rows[0].rsplit(",", 1)[0] + ",-1"),
            "line 1: pixel value -1",
        ),
        (
            lambda rows: rows.__setitem__(4, "12" + rows[4][rows[4].index(",") :]),
            "line 5: label 12",
        ),
        (lambda rows: rows.__setitem__(2, rows[2].rsplit(",", 1)[0] + ",x"), "line 3"),
        (
            lambda rows: rows.__setitem__(1, rows[1].rsplit(",", 1)[0] + ",1.5"),
            "line 2: pixel value 1.5",
        ),
    ],
)
def test_malformed_csv_names_file_line_and_problem(tmp_path: Path, mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    path = write_csv(tmp_path / "bad.csv", *digits(5))
    rows = path.read_text().splitlines()
    mutate(rows)
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError) as caught:
        read_mnist_csv(path)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)


def test_missing_and_empty_csv(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found"):
        read_mnist_csv(tmp_path / "nope.csv")
    (tmp_path / "empty.csv").write_text("\n\n")
    with pytest.raises(DataError, match="empty"):
        read_mnist_csv(tmp_path / "empty.csv")
    (tmp_path / "binary.csv").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DataError, match=r"binary\.csv"):
        read_mnist_csv(tmp_path / "binary.csv")


@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip_in_torchvision_layout(tmp_path: Path, gz: bool) -> None:
    raw = tmp_path / "MNIST" / "raw"
    pixels, labels = digits(6)
    write_idx(raw, "train", pixels, labels, gz)
    write_idx(raw, "t10k", *digits(3, seed=1), gz)
    dataset = load_dataset(DatasetSpec(source=f"idx:{tmp_path}"), get_family("mnist-gan"))
    assert dataset.train.labels.tolist() == labels.tolist()
    assert torch.allclose(dataset.train.images.view(6, 784) * 255, torch.tensor(pixels).float())
    assert len(dataset.test) == 3


def test_corrupt_idx_files_are_refused(tmp_path: Path) -> None:
    pixels, labels = digits(4)
    write_idx(tmp_path, "train", pixels, labels, gz=False)
    images = tmp_path / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-10])
    with pytest.raises(DataError, match="data bytes, the header promises"):
        read_idx(images, 3)
    images.write_bytes(struct.pack(">IIII", 0x0801, 1, 28, 28))
    with pytest.raises(DataError, match="magic number"):
        read_idx(images, 3)
    write_idx(tmp_path, "train", pixels, labels[:3], gz=False)
    with pytest.raises(DataError, match="3 labels for 4 images"):
        read_mnist_idx(tmp_path, "train")
    with pytest.raises(DataError, match="no t10k-images"):
        read_mnist_idx(tmp_path, "test")


def test_csv_dataset_holds_out_a_test_split_and_honours_limit(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "train.csv", *digits(20))
    spec = DatasetSpec(source=f"csv:{path}", limit=5)
    dataset = load_dataset(spec, get_family("mnist-cgan"))
    assert len(dataset.train) == 5 and len(dataset.test) == 2


def test_pattern_source_is_high_low_high_low() -> None:
    data = pattern_1010(1000, seed=3).images
    assert data.shape == (1000, 4)
    assert float(data[:, [0, 2]].min()) >= 0.8 and float(data[:, [1, 3]].max()) < 0.2


def test_fake_dataset_has_the_family_shape() -> None:
    dataset = fake_dataset(get_family("mnist-cgan"), 16)
    assert dataset.train.images.shape == (16, 1, 28, 28)
    assert dataset.train.labels is not None and int(dataset.train.labels.max()) < 10
