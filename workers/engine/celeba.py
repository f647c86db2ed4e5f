"""CelebA for the convolutional GANs: zip of JPEGs -> HDF5 -> float tensors in [0, 1].

Two HDF5 layouts. The book's: group ``img_align_celeba`` of datasets ``0.jpg``, ``1.jpg``, ... each
a raw (218, 178, 3) uint8 array, gzip 9. The project's: one uncompressed dataset ``images`` of
shape (N, 218, 178, 3) chunked one image per chunk, which reads several times faster at random.
The reader tells them apart by content, so either file can be given to training.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from workers.engine.data import DataError
from workers.engine.memory import HOST_SHARE, available_host_bytes

CROP = (slice(45, 173), slice(25, 153))  # (rows, columns): the DCGAN's centred 128x128
FULL_SHAPE = (218, 178, 3)  # (height, width, RGB) of every aligned CelebA image
CROP_SIZE = (128, 128)
IMAGE_BYTES = 218 * 178 * 3
BOOK_GROUP = "img_align_celeba"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
FORMAT = "gan-foundry/celeba"
FORMAT_VERSION = 1
WRITE_BATCH = 256  # images decoded and written between two flushes of the resume point
LOAD_BATCH = 256  # images per contiguous slice read by load_pixels

Layout = Literal["project", "book"]


class CelebaError(DataError):
    """CelebA input that cannot be used; the message names the file (and the member) and why."""


# ---- building -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    name: str  # member name in the zip, or the path relative to the source folder
    size: int
    crc: int  # the zip's CRC-32; 0 for files in a folder


def build_hdf5(
    source: Path,
    target: Path,
    limit: int | None = 20_000,
    layout: Layout = "project",
    progress: bool = True,
) -> Path:
    """Decode the first ``limit`` images of a zip or folder of JPEGs into ``target``; resumable.

    Work goes to ``target.partial``; running again with the same arguments continues from the
    last flushed batch, and a finished ``target`` built from the same images is returned as is.
    """
    source, target = Path(source), Path(target)
    if layout not in ("project", "book"):
        raise ValueError(f"layout must be 'project' or 'book', not {layout!r}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1 (or None for every image), not {limit}")
    chosen = _list_source(source)[:limit]
    fingerprint = _fingerprint(chosen, layout)
    if target.exists():
        _check_finished(target, fingerprint, layout)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    done = _resume_point(partial, fingerprint)
    if layout == "project":
        _check_free_space(partial, (len(chosen) - done) * IMAGE_BYTES)
    try:
        with h5py.File(partial, "r+" if done else "w") as f:
            if not done:
                _initialise(f, chosen, fingerprint, layout, source)
            _fill(f, source, chosen, done, layout, progress, target.name)
            f.attrs["complete"] = True
    except OSError as error:  # HDF5 reports a full disk or a damaged file as OSError
        raise CelebaError(
            f"{partial}: cannot be written ({error}); free some disk space, or delete the file "
            "if a crash damaged it, and run again"
        ) from None
    os.replace(partial, target)
    return target


def _fill(
    f: h5py.File,
    source: Path,
    chosen: list[_Entry],
    done: int,
    layout: Layout,
    progress: bool,
    label: str,
) -> None:
    """Decode and write images ``done:``, moving the resume point after every batch."""
    write = _write_project if layout == "project" else _write_book
    bar = tqdm(
        total=len(chosen),
        initial=done,
        unit="img",
        desc=label,
        disable=not progress,
        dynamic_ncols=True,
    )
    with _open_source(source) as read, bar:
        for start in range(done, len(chosen), WRITE_BATCH):
            batch = chosen[start : start + WRITE_BATCH]
            pixels = np.empty((len(batch), *FULL_SHAPE), dtype=np.uint8)
            for k, entry in enumerate(batch):
                pixels[k] = _decode(read(entry.name), f"{source}: {entry.name}")
            write(f, start, pixels)
            # The resume point moves only once the batch is on disk.
            f.attrs["done"] = start + len(batch)
            f.flush()
            bar.update(len(batch))


def _check_free_space(path: Path, needed: int) -> None:
    free = shutil.disk_usage(path.parent).free
    if free < needed:
        raise CelebaError(
            f"{path}: needs {needed / 1e9:.1f} GB of disk for uncompressed images, "
            f"{free / 1e9:.1f} GB free; free some space, lower the limit or choose another target"
        )


def _list_source(source: Path) -> list[_Entry]:
    """The images of a zip (in zip order) or a folder (sorted by relative path)."""
    if source.is_dir():
        files = sorted(
            (p for p in source.rglob("*") if p.is_file() and _is_image(p.name)),
            key=lambda p: p.relative_to(source).as_posix(),
        )
        entries = [_Entry(p.relative_to(source).as_posix(), p.stat().st_size, 0) for p in files]
    elif source.is_file():
        try:
            with zipfile.ZipFile(source) as archive:
                infos = archive.infolist()
        except (zipfile.BadZipFile, OSError) as error:
            raise CelebaError(
                f"{source}: not a readable zip archive ({error}); give the CelebA "
                "img_align_celeba.zip as downloaded, or a folder of its JPEGs"
            ) from None
        entries = [
            _Entry(i.filename, i.file_size, i.CRC)
            for i in infos
            if not i.is_dir() and _is_image(i.filename)
        ]
    else:
        raise CelebaError(f"{source}: no such file or folder; expected img_align_celeba.zip")
    if not entries:
        raise CelebaError(f"{source}: holds no {'/'.join(IMAGE_SUFFIXES)} images")
    return entries


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES) and not name.rsplit("/", 1)[-1].startswith(".")


def _fingerprint(entries: list[_Entry], layout: Layout) -> str:
    """Names, sizes and CRCs of the chosen images: a changed source or limit never resumes."""
    digest = hashlib.sha256(f"{FORMAT}:{FORMAT_VERSION}:{layout}:{len(entries)}".encode())
    for entry in entries:
        digest.update(f"\n{entry.name}:{entry.size}:{entry.crc}".encode())
    return digest.hexdigest()


@contextmanager
def _open_source(source: Path) -> Iterator[Callable[[str], bytes]]:
    """A function that reads one image's bytes by its entry name, open for the whole build."""
    if source.is_dir():
        yield lambda name: _read_file(source, name)
        return
    with zipfile.ZipFile(source) as archive:

        def read(name: str) -> bytes:
            try:
                return archive.read(name)
            except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as error:
                raise CelebaError(f"{source}: {name}: cannot be read ({error})") from None

        yield read


def _read_file(folder: Path, name: str) -> bytes:
    try:
        return (folder / name).read_bytes()
    except OSError as error:
        raise CelebaError(f"{folder / name}: cannot be read ({error})") from None


def _decode(data: bytes, where: str) -> np.ndarray:
    """One image as (218, 178, 3) uint8; anything else is refused, since CelebA is uniform."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()  # PIL decodes lazily: force it here so a broken file fails here
            mode, pixels = image.mode, np.asarray(image)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise CelebaError(f"{where}: not a readable image ({error})") from None
    if mode != "RGB" or pixels.shape != FULL_SHAPE:
        raise CelebaError(
            f"{where}: image is {pixels.shape[0]}x{pixels.shape[1]} (height x width) in mode "
            f"{mode!r}; every image must be 218x178 RGB, as in CelebA's img_align_celeba"
        )
    return pixels


def _check_finished(target: Path, fingerprint: str, layout: Layout) -> None:
    """Accept an existing target only if this builder made it from the same images."""
    record = _read_record(target)
    if record.get("complete") and record.get("fingerprint") == fingerprint:
        return
    raise CelebaError(
        f"{target}: already exists but was not built by build_hdf5 from these images "
        f"(layout {layout!r}, this source and limit); delete it or choose another target"
    )


def _read_record(path: Path) -> dict[str, Any]:
    """The builder's bookkeeping attributes of a file, or {} when it has none or is unreadable."""
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != FORMAT:
                return {}
            return {key: f.attrs[key] for key in f.attrs}
    except (OSError, KeyError):
        return {}


def _resume_point(partial: Path, fingerprint: str) -> int:
    """How many images a previous run left in ``partial``; 0 (and no partial) if unusable."""
    if not partial.exists():
        return 0
    record = _read_record(partial)
    if record.get("fingerprint") == fingerprint and "done" in record:
        return int(record["done"])
    # Another source, limit or layout, or a file a hard crash left unreadable: start again.
    partial.unlink()
    return 0


def _initialise(
    f: h5py.File, entries: list[_Entry], fingerprint: str, layout: Layout, source: Path
) -> None:
    f.attrs.update(
        {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "layout": layout,
            "fingerprint": fingerprint,
            "source": str(source),
            "count": len(entries),
            "done": 0,
            "complete": False,
        }
    )
    if layout == "book":
        f.create_group(BOOK_GROUP)
        return
    # One image per chunk, uncompressed: a random read is one seek and one copy (bench/hdf5_read).
    f.create_dataset(
        "images",
        shape=(len(entries), *FULL_SHAPE),
        dtype=np.uint8,
        chunks=(1, *FULL_SHAPE),
    )
    f.create_dataset(
        "names", data=[e.name for e in entries], dtype=h5py.string_dtype(encoding="utf-8")
    )


def _write_project(f: h5py.File, start: int, pixels: np.ndarray) -> None:
    f["images"][start : start + len(pixels)] = pixels


def _write_book(f: h5py.File, start: int, pixels: np.ndarray) -> None:
    group = f[BOOK_GROUP]
    for k, image in enumerate(pixels):
        name = f"{start + k}.jpg"
        if name in group:  # written after the last resume point by an interrupted run
            del group[name]
        # As the book writes it (h5py's automatic chunks), so the comparison is fair.
        group.create_dataset(name, data=image, compression="gzip", compression_opts=9)


# ---- reading --------------------------------------------------------------------------------

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


# ---- offline stand-ins for CelebA ---------------------------------------------------------------

SKIN_TINT = np.array([1.0, 0.80, 0.66])  # RGB gain that turns a grey face into a warm skin tone
LFW_FACES = 100  # lfw_subset(): the first 100 rows are faces, the rest are not


def offline_faces(count: int = 100, seed: int = 0) -> np.ndarray:
    """``count`` CelebA-shaped (218, 178, 3) uint8 faces made from scikit-image's LFW subset.

    Grey 25x25 faces, upscaled (bilinear) and tinted, with a per-image tint jitter; they cycle
    through the 100 faces when ``count`` is larger.
    """
    from skimage.data import lfw_subset  # heavy import, needed only for offline data

    if count < 0:
        raise ValueError(f"count must not be negative, not {count}")
    faces = torch.from_numpy(lfw_subset()[:LFW_FACES].astype(np.float32))[:, None]  # (100,1,25,25)
    grey = torch.nn.functional.interpolate(
        faces, size=FULL_SHAPE[:2], mode="bilinear", align_corners=False
    )[:, 0].numpy()  # (100, 218, 178) in [0, 1]
    rng = np.random.default_rng(seed)
    out = np.empty((count, *FULL_SHAPE), dtype=np.uint8)
    for i in range(count):
        # Drawn image by image, so the first k faces are the same whatever the count.
        tint = SKIN_TINT * rng.uniform(0.85, 1.1) + rng.normal(0.0, 0.04, 3)
        rgb = grey[i % LFW_FACES, :, :, None] * tint
        out[i] = np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)
    return out


def write_faces_zip(images: np.ndarray, path: Path) -> Path:
    """A zip laid out like img_align_celeba.zip: ``img_align_celeba/000001.jpg``, ... (q 95)."""
    _check_faces(images, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(f"{BOOK_GROUP}/", b"")  # the real zip lists its folder first
        for i, image in enumerate(images):
            archive.writestr(f"{BOOK_GROUP}/{i + 1:06d}.jpg", _encode(image, "JPEG"))
    return path


def write_faces_folder(images: np.ndarray, folder: Path, suffix: str = ".png") -> Path:
    """Images as ``000001.png``, ... in ``folder`` (PNG is lossless; ``.jpg`` for JPEG q 95)."""
    _check_faces(images, folder)
    kind = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}.get(suffix.lower())
    if kind is None:
        raise ValueError(f"suffix must be .png, .jpg or .jpeg, not {suffix!r}")
    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
        (folder / f"{i + 1:06d}{suffix}").write_bytes(_encode(image, kind))
    return folder


def _check_faces(images: np.ndarray, path: Path) -> None:
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(
            f"{path}: images must be uint8 (N, H, W, 3), not {images.dtype} {images.shape}"
        )


def _encode(image: np.ndarray, kind: str) -> bytes:
    buffer = io.BytesIO()
    options = {"quality": 95} if kind == "JPEG" else {}
    Image.fromarray(image, "RGB").save(buffer, format=kind, **options)
    return buffer.getvalue()
