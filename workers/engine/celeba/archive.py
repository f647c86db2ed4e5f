"""CelebA as downloaded (img_align_celeba.zip) or unpacked into a folder, read image by image.

Kept apart from the builder so the zip and PIL handling, and their many ways to fail, sit in
one place; every failure names the file and the member.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from workers.engine.celeba.layout import FULL_SHAPE, CelebaError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class Entry:
    name: str  # member name in the zip, or the path relative to the source folder
    size: int
    crc: int  # the zip's CRC-32; 0 for files in a folder


def list_source(source: Path) -> list[Entry]:
    """The images of a zip (in zip order) or a folder (sorted by relative path)."""
    if source.is_dir():
        files = sorted(
            (p for p in source.rglob("*") if p.is_file() and _is_image(p.name)),
            key=lambda p: p.relative_to(source).as_posix(),
        )
        entries = [Entry(p.relative_to(source).as_posix(), p.stat().st_size, 0) for p in files]
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
            Entry(i.filename, i.file_size, i.CRC)
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


@contextmanager
def open_source(source: Path) -> Iterator[Callable[[str], bytes]]:
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


def decode(data: bytes, where: str) -> np.ndarray:
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
