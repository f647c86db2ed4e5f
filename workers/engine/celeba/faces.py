"""Offline stand-ins for CelebA: face-like images, and archives laid out as the real download.

Tests, benchmarks and the built-in faces sample need CelebA-shaped data without the 1.4 GB zip;
these are LFW faces from scikit-image, upscaled and tinted, packed as img_align_celeba.zip is.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from workers.engine.celeba.layout import BOOK_GROUP, FULL_SHAPE

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
