"""The resumable builder: a zip or folder of CelebA JPEGs into an HDF5 file of either layout.

Decoding 200,000 JPEGs takes long enough to be interrupted, so work goes to ``target.partial``
with a resume point moved only after each batch is on disk, and a fingerprint of the chosen
images keeps a changed source, limit or layout from resuming a partial file it did not write.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from tqdm import tqdm

from workers.engine.celeba.archive import Entry, decode, list_source, open_source
from workers.engine.celeba.layout import (
    BOOK_GROUP,
    FORMAT,
    FORMAT_VERSION,
    FULL_SHAPE,
    IMAGE_BYTES,
    CelebaError,
    Layout,
)

WRITE_BATCH = 256  # images decoded and written between two flushes of the resume point


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
    chosen = list_source(source)[:limit]
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
    chosen: list[Entry],
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
    with open_source(source) as read, bar:
        for start in range(done, len(chosen), WRITE_BATCH):
            batch = chosen[start : start + WRITE_BATCH]
            pixels = np.empty((len(batch), *FULL_SHAPE), dtype=np.uint8)
            for k, entry in enumerate(batch):
                pixels[k] = decode(read(entry.name), f"{source}: {entry.name}")
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


def _fingerprint(entries: list[Entry], layout: Layout) -> str:
    """Names, sizes and CRCs of the chosen images: a changed source or limit never resumes."""
    digest = hashlib.sha256(f"{FORMAT}:{FORMAT_VERSION}:{layout}:{len(entries)}".encode())
    for entry in entries:
        digest.update(f"\n{entry.name}:{entry.size}:{entry.crc}".encode())
    return digest.hexdigest()


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
    f: h5py.File, entries: list[Entry], fingerprint: str, layout: Layout, source: Path
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
