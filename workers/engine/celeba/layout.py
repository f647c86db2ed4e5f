"""What every CelebA module agrees on: image shape, the crop and the two HDF5 layouts.

Two HDF5 layouts. The book's: group ``img_align_celeba`` of datasets ``0.jpg``, ``1.jpg``, ... each
a raw (218, 178, 3) uint8 array, gzip 9. The project's: one uncompressed dataset ``images`` of
shape (N, 218, 178, 3) chunked one image per chunk, which reads several times faster at random.
The reader tells them apart by content, so either file can be given to training.
"""

from __future__ import annotations

from typing import Literal

from workers.engine.datasets import DataError

CROP = (slice(45, 173), slice(25, 153))  # (rows, columns): the DCGAN's centred 128x128
FULL_SHAPE = (218, 178, 3)  # (height, width, RGB) of every aligned CelebA image
CROP_SIZE = (128, 128)
IMAGE_BYTES = 218 * 178 * 3
BOOK_GROUP = "img_align_celeba"
FORMAT = "gan-foundry/celeba"
FORMAT_VERSION = 1

Layout = Literal["project", "book"]


class CelebaError(DataError):
    """CelebA input that cannot be used; the message names the file (and the member) and why."""
