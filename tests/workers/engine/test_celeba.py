from __future__ import annotations

import io
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import torch
from PIL import Image

from workers.engine.celeba import build
from workers.engine.celeba.build import build_hdf5
from workers.engine.celeba.faces import offline_faces, write_faces_folder, write_faces_zip
from workers.engine.celeba.layout import CROP, FORMAT_VERSION, FULL_SHAPE, CelebaError, Layout
from workers.engine.celeba.reader import CelebaImages, load_images, load_pixels
from workers.engine.datasets import DataError

COUNT = 12


@pytest.fixture(scope="module")
def faces() -> np.ndarray:
    return offline_faces(COUNT, seed=3)


@pytest.fixture
def faces_zip(tmp_path: Path, faces: np.ndarray) -> Path:
    return write_faces_zip(faces, tmp_path / "img_align_celeba.zip")


def decoded_zip(path: Path) -> np.ndarray:
    """What the JPEGs in the zip decode to: the exact pixels the builder must store."""
    with zipfile.ZipFile(path) as archive:
        names = [n for n in archive.namelist() if n.endswith(".jpg")]
        return np.stack([np.asarray(Image.open(io.BytesIO(archive.read(n)))) for n in names])


def expected(pixels: np.ndarray, crop: bool) -> torch.Tensor:
    if crop:
        pixels = pixels[:, CROP[0], CROP[1]]
    return torch.from_numpy(pixels.astype(np.float32) / 255.0).permute(0, 3, 1, 2)


def stored(path: Path) -> np.ndarray:
    images = CelebaImages(path, crop=False)
    return np.stack([images.pixels(i) for i in range(len(images))])


# ---- offline faces ---------------------------------------------------------------------------


def test_offline_faces_shape_dtype_and_determinism() -> None:
    faces = offline_faces(105, seed=1)
    assert faces.shape == (105, *FULL_SHAPE) and faces.dtype == np.uint8
    assert np.array_equal(faces, offline_faces(105, seed=1))
    assert not np.array_equal(faces, offline_faces(105, seed=2))
    assert np.array_equal(offline_faces(3, seed=1), faces[:3])  # a prefix does not depend on count
    red, blue = faces[..., 0].mean(), faces[..., 2].mean()
    assert red > blue  # warm tint, not grey
    # Past 100 the faces cycle: same grey structure as face 0, another tint.
    grey = faces.astype(np.float64).mean(axis=-1)
    assert np.corrcoef(grey[0].ravel(), grey[100].ravel())[0, 1] > 0.99
    assert not np.array_equal(faces[0], faces[100])


def test_faces_zip_is_laid_out_like_celeba(faces_zip: Path) -> None:
    with zipfile.ZipFile(faces_zip) as archive:
        names = archive.namelist()
    assert names[:3] == [
        "img_align_celeba/",
        "img_align_celeba/000001.jpg",
        "img_align_celeba/000002.jpg",
    ]
    assert len(names) == COUNT + 1


# ---- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["project", "book"])
@pytest.mark.parametrize("crop", [False, True])
def test_zip_round_trip(tmp_path: Path, faces_zip: Path, layout: Layout, crop: bool) -> None:
    target = build_hdf5(faces_zip, tmp_path / "celeba.h5", layout=layout, progress=False)
    want = expected(decoded_zip(faces_zip), crop)
    images = CelebaImages(target, crop=crop)
    assert images.layout == layout and len(images) == COUNT
    item = images[5]
    assert item.dtype == torch.float32 and item.is_contiguous()
    assert item.shape == ((3, 128, 128) if crop else (3, 218, 178))
    assert torch.equal(torch.stack([images[i] for i in range(COUNT)]), want)
    assert torch.equal(images[-1], want[-1])
    with pytest.raises(IndexError):
        images[COUNT]
    assert torch.equal(load_images(target, crop=crop), want)
    assert torch.equal(load_images(target, crop=crop, limit=4), want[:4])
    pixels = load_pixels(target, crop=crop, limit=7)  # what training keeps: exact uint8 pixels
    assert pixels.dtype == torch.uint8 and pixels.is_contiguous()
    assert torch.equal(pixels.float() / 255, want[:7])


def test_png_folder_round_trip_is_exact(tmp_path: Path, faces: np.ndarray) -> None:
    folder = write_faces_folder(faces, tmp_path / "faces")
    (folder / "notes.txt").write_text("not an image")  # ignored: only .jpg/.jpeg/.png
    target = build_hdf5(folder, tmp_path / "celeba.h5", progress=False)
    assert np.array_equal(stored(target), faces)
    assert torch.equal(load_images(target, crop=True), expected(faces, crop=True))
    with h5py.File(target) as f:
        assert [n.decode() for n in f["names"][:3]] == ["000001.png", "000002.png", "000003.png"]
        assert f.attrs["format_version"] == FORMAT_VERSION


def test_book_layout_matches_the_book(tmp_path: Path, faces_zip: Path) -> None:
    target = build_hdf5(faces_zip, tmp_path / "book.h5", layout="book", progress=False)
    with h5py.File(target) as f:
        group = f["img_align_celeba"]
        assert sorted(group, key=lambda n: int(n.split(".")[0])) == [
            f"{i}.jpg" for i in range(COUNT)
        ]
        dataset = group["0.jpg"]
        assert dataset.shape == FULL_SHAPE and dataset.dtype == np.uint8
        assert dataset.compression == "gzip" and dataset.compression_opts == 9


def test_layout_detected_from_content_of_a_book_written_file(
    tmp_path: Path, faces: np.ndarray
) -> None:
    path = tmp_path / "celeba_aligned_small.h5py"
    with h5py.File(path, "w") as f:  # as the book's notebook writes it: no attributes of ours
        for i, image in enumerate(faces[:5]):
            f.create_dataset(
                f"img_align_celeba/{i}.jpg", data=image, compression="gzip", compression_opts=9
            )
    images = CelebaImages(path, crop=True)
    assert images.layout == "book" and len(images) == 5
    assert torch.equal(load_images(path, crop=True), expected(faces[:5], crop=True))


def test_limit_is_respected(tmp_path: Path, faces_zip: Path) -> None:
    target = build_hdf5(faces_zip, tmp_path / "five.h5", limit=5, progress=False)
    assert len(CelebaImages(target, crop=False)) == 5
    assert np.array_equal(stored(target), decoded_zip(faces_zip)[:5])
    with h5py.File(target) as f:
        assert f["names"][-1].decode() == "img_align_celeba/000005.jpg"
    everything = build_hdf5(faces_zip, tmp_path / "all.h5", limit=None, progress=False)
    assert len(CelebaImages(everything, crop=False)) == COUNT
    more = build_hdf5(faces_zip, tmp_path / "more.h5", limit=1000, progress=False)
    assert len(CelebaImages(more, crop=False)) == COUNT


# ---- resuming --------------------------------------------------------------------------------


class Interrupted(KeyboardInterrupt):
    pass


def counting(decode: Callable[[bytes, str], np.ndarray], calls: list[str]) -> Any:
    def wrapped(data: bytes, name: str) -> np.ndarray:
        calls.append(name)
        return decode(data, name)

    return wrapped


@pytest.mark.parametrize("layout", ["project", "book"])
@pytest.mark.parametrize("where", ["decode", "write"])
def test_resume_after_interruption(
    tmp_path: Path, faces_zip: Path, monkeypatch: pytest.MonkeyPatch, layout: Layout, where: str
) -> None:
    monkeypatch.setattr(build, "WRITE_BATCH", 4)
    reference = build_hdf5(faces_zip, tmp_path / "reference.h5", layout=layout, progress=False)
    target = tmp_path / "celeba.h5"
    decoded: list[str] = []
    real_decode, real_write = (
        build.decode,
        build._write_book if layout == "book" else build._write_project,
    )

    def decode(data: bytes, name: str) -> np.ndarray:
        if where == "decode" and len(decoded) == 6:  # mid-way through the second batch
            raise Interrupted
        return counting(real_decode, decoded)(data, name)

    def write(f: Any, start: int, pixels: np.ndarray) -> None:
        real_write(f, start, pixels)
        if where == "write" and start == 4:  # the batch is written, its resume point is not
            raise Interrupted

    monkeypatch.setattr(build, "decode", decode)
    monkeypatch.setattr(build, "_write_book" if layout == "book" else "_write_project", write)
    with pytest.raises(Interrupted):
        build_hdf5(faces_zip, target, layout=layout, progress=False)
    partial = tmp_path / "celeba.h5.partial"
    assert not target.exists() and partial.exists()
    with h5py.File(partial) as f:
        assert f.attrs["done"] == 4 and not f.attrs["complete"]
    with pytest.raises(CelebaError, match="unfinished build"):
        CelebaImages(partial, crop=False)

    monkeypatch.setattr(build, "_write_book" if layout == "book" else "_write_project", real_write)
    decoded.clear()
    monkeypatch.setattr(build, "decode", counting(real_decode, decoded))
    assert build_hdf5(faces_zip, target, layout=layout, progress=False) == target
    assert len(decoded) == COUNT - 4  # only what was not flushed
    assert decoded[0].endswith("img_align_celeba/000005.jpg")
    assert not partial.exists()
    assert np.array_equal(stored(target), stored(reference))
    if layout == "book":
        with h5py.File(target) as f:
            assert len(f["img_align_celeba"]) == COUNT


def test_finished_target_is_not_rebuilt(
    tmp_path: Path, faces_zip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = build_hdf5(faces_zip, tmp_path / "celeba.h5", progress=False)
    before = target.stat().st_mtime_ns

    def refuse(data: bytes, name: str) -> np.ndarray:
        raise AssertionError("rebuilt")

    monkeypatch.setattr(build, "decode", refuse)
    assert build_hdf5(faces_zip, target, progress=False) == target
    assert target.stat().st_mtime_ns == before
    with pytest.raises(CelebaError, match=r"celeba\.h5: already exists"):
        build_hdf5(faces_zip, target, limit=5, progress=False)
    with pytest.raises(CelebaError, match="already exists"):
        build_hdf5(faces_zip, target, layout="book", progress=False)


def test_stale_partial_from_other_arguments_is_discarded(tmp_path: Path, faces_zip: Path) -> None:
    target = tmp_path / "celeba.h5"
    (tmp_path / "celeba.h5.partial").write_bytes(b"left by a hard crash")
    build_hdf5(faces_zip, target, limit=3, progress=False)
    assert len(CelebaImages(target, crop=False)) == 3


# ---- refusing bad input ----------------------------------------------------------------------


def test_not_a_zip_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "img_align_celeba.zip"
    source.write_bytes(b"this is not a zip archive at all")
    with pytest.raises(CelebaError, match=r"img_align_celeba\.zip: not a readable zip"):
        build_hdf5(source, tmp_path / "out.h5", progress=False)
    with pytest.raises(CelebaError, match="no such file or folder"):
        build_hdf5(tmp_path / "missing.zip", tmp_path / "out.h5", progress=False)
    assert issubclass(CelebaError, DataError)


def test_unreadable_jpeg_is_refused_by_name(tmp_path: Path, faces: np.ndarray) -> None:
    source = write_faces_zip(faces[:3], tmp_path / "faces.zip")
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(broken, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("000002.jpg"):
                data = data[: len(data) // 3]  # a truncated JPEG
            dst.writestr(info, data)
    with pytest.raises(
        CelebaError, match=r"broken\.zip: img_align_celeba/000002\.jpg: not a readable"
    ):
        build_hdf5(broken, tmp_path / "out.h5", progress=False)


def test_corrupt_zip_member_is_refused_by_name(tmp_path: Path, faces: np.ndarray) -> None:
    source = write_faces_zip(faces[:2], tmp_path / "faces.zip")
    data = bytearray(source.read_bytes())
    with zipfile.ZipFile(source) as archive:
        info = archive.getinfo("img_align_celeba/000002.jpg")
    body = info.header_offset + 30 + len(info.filename) + 100
    data[body : body + 8] = b"\x00" * 8  # stored bytes no longer match the CRC
    source.write_bytes(bytes(data))
    with pytest.raises(CelebaError, match=r"img_align_celeba/000002\.jpg: cannot be read"):
        build_hdf5(source, tmp_path / "out.h5", progress=False)


@pytest.mark.parametrize("layout", ["project", "book"])
def test_wrong_image_shape_is_refused_by_name(tmp_path: Path, layout: Layout) -> None:
    small = np.zeros((2, 64, 64, 3), dtype=np.uint8)
    source = write_faces_zip(small, tmp_path / "small.zip")
    with pytest.raises(
        CelebaError, match=r"small\.zip: img_align_celeba/000001\.jpg: image is 64x64"
    ):
        build_hdf5(source, tmp_path / "out.h5", layout=layout, progress=False)
    grey = tmp_path / "grey"
    grey.mkdir()
    Image.new("L", (178, 218)).save(grey / "000001.png")
    with pytest.raises(CelebaError, match=r"000001\.png: .*mode 'L'"):
        build_hdf5(grey, tmp_path / "grey.h5", layout=layout, progress=False)


def test_truncated_or_foreign_hdf5_is_refused(tmp_path: Path, faces_zip: Path) -> None:
    target = build_hdf5(faces_zip, tmp_path / "celeba.h5", progress=False)
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(target.read_bytes()[: target.stat().st_size // 2])
    with pytest.raises(CelebaError, match=r"truncated\.h5: not a readable HDF5"):
        CelebaImages(truncated, crop=True)
    text = tmp_path / "text.h5"
    text.write_text("hello")
    with pytest.raises(CelebaError, match=r"text\.h5: not a readable HDF5"):
        load_images(text, crop=True)
    with pytest.raises(CelebaError, match=r"absent\.h5: no such file"):
        CelebaImages(tmp_path / "absent.h5", crop=True)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.create_dataset("pixels", data=np.zeros(3))
    with pytest.raises(CelebaError, match=r"other\.h5: holds neither an 'images' dataset"):
        CelebaImages(other, crop=True)


def test_missing_book_dataset_is_refused_by_name(tmp_path: Path, faces_zip: Path) -> None:
    target = build_hdf5(faces_zip, tmp_path / "book.h5", layout="book", progress=False)
    with h5py.File(target, "a") as f:
        del f["img_align_celeba/3.jpg"]
    with pytest.raises(
        CelebaError, match=r"book\.h5: dataset 'img_align_celeba/3\.jpg' is missing"
    ):
        CelebaImages(target, crop=True)


def test_wrong_stored_shapes_are_refused(tmp_path: Path, faces: np.ndarray) -> None:
    project = tmp_path / "project.h5"
    with h5py.File(project, "w") as f:
        f.create_dataset("images", data=np.zeros((2, 64, 64, 3), dtype=np.uint8))
    with pytest.raises(
        CelebaError, match=r"project\.h5: 'images' holds uint8 images of shape \(64, 64, 3\)"
    ):
        CelebaImages(project, crop=True)
    book = tmp_path / "book.h5"
    with h5py.File(book, "w") as f:
        f.create_dataset("img_align_celeba/0.jpg", data=faces[0])
        f.create_dataset("img_align_celeba/1.jpg", data=faces[1][:100])
        f.create_dataset("img_align_celeba/2.jpg", data=faces[2])
    images = CelebaImages(book, crop=True)  # the first and last are checked up front ...
    with pytest.raises(CelebaError, match=r"book\.h5: 'img_align_celeba/1\.jpg' holds uint8"):
        images[1]  # ... the others as they are read


# ---- workers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["project", "book"])
def test_dataloader_workers_read_the_same_tensors(
    tmp_path: Path, faces_zip: Path, layout: Layout
) -> None:
    target = build_hdf5(faces_zip, tmp_path / "celeba.h5", layout=layout, progress=False)
    images = CelebaImages(target, crop=True)
    first = images[0]  # opens a handle in this process before the workers fork

    def read(workers: int) -> torch.Tensor:
        loader = torch.utils.data.DataLoader(images, batch_size=5, num_workers=workers)
        return torch.cat(list(loader))

    serial = read(0)
    assert torch.equal(read(2), serial)
    assert torch.equal(serial[0], first) and serial.shape == (COUNT, 3, 128, 128)
    clone = pickle.loads(pickle.dumps(images))  # what spawn workers receive: no open handle
    assert clone._file is None and torch.equal(clone[3], serial[3])
    images.close()
