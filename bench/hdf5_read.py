"""CelebA HDF5 layouts: the book's (a gzip-9 dataset per image) against the project's (one
uncompressed dataset, one image per chunk), built and read side by side in one run.

Offline faces are packed as a CelebA-like zip of JPEGs, built into both layouts, then read one by
one in the same shuffled training order through CelebaImages (crop=True, as the DCGAN reads).
Last line: JSON.

    python bench/hdf5_read.py [--images 2000] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from workers.engine.celeba.build import build_hdf5
from workers.engine.celeba.faces import offline_faces, write_faces_zip
from workers.engine.celeba.layout import Layout
from workers.engine.celeba.reader import CelebaImages, load_images

TARGET_RATIO = 5.0
LAYOUTS: tuple[Layout, ...] = ("book", "project")


def build(source: Path, target: Path, layout: Layout) -> float:
    """Seconds to build ``target`` from the zip."""
    began = time.perf_counter()
    build_hdf5(source, target, limit=None, layout=layout, progress=False)
    return time.perf_counter() - began


def read_rate(path: Path, order: np.ndarray) -> float:
    """Images/s through CelebaImages, one image at a time in ``order``, as a DataLoader reads."""
    images = CelebaImages(path, crop=True)
    images[int(order[0])]  # open the handle outside the timing, as a worker does once
    began = time.perf_counter()
    for index in order:
        images[int(index)]
    seconds = time.perf_counter() - began
    images.close()
    return len(order) / seconds


def load_rate(path: Path) -> float:
    """Images/s of load_images: everything into memory at once."""
    began = time.perf_counter()
    count = len(load_images(path, crop=True))
    return count / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0, help="seed of the faces and the order")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        source = write_faces_zip(offline_faces(args.images, args.seed), root / "faces.zip")
        paths = {layout: root / f"{layout}.h5" for layout in LAYOUTS}
        build_s = {layout: build(source, paths[layout], layout) for layout in LAYOUTS}
        order = np.random.default_rng(args.seed).permutation(args.images)
        rates = {layout: read_rate(path, order) for layout, path in paths.items()}
        loads = {layout: load_rate(path) for layout, path in paths.items()}
        sizes = {layout: path.stat().st_size for layout, path in paths.items()}
    ratio = rates["project"] / rates["book"]
    per_1000 = {layout: seconds * 1000 / args.images for layout, seconds in build_s.items()}
    for layout in LAYOUTS:
        print(
            f"{layout:>7} layout: build {per_1000[layout]:.2f} s per 1000 images, "
            f"{sizes[layout] / args.images / 1024:.1f} KiB per image; shuffled reads "
            f"{rates[layout]:,.0f} images/s; load_images {loads[layout]:,.0f} images/s"
        )
    verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
    print(f"project layout reads {ratio:.1f}x faster ({verdict} the {TARGET_RATIO:g}x target)")
    figures = {
        "images": args.images,
        "book_layout_images_per_s": round(rates["book"], 1),
        "project_layout_images_per_s": round(rates["project"], 1),
        "ratio": round(ratio, 1),
        "book_build_s_per_1000": round(per_1000["book"], 2),
        "project_build_s_per_1000": round(per_1000["project"], 2),
        "book_load_images_per_s": round(loads["book"], 1),
        "project_load_images_per_s": round(loads["project"], 1),
        "book_bytes_per_image": round(sizes["book"] / args.images),
        "project_bytes_per_image": round(sizes["project"] / args.images),
        "target_ratio": TARGET_RATIO,
        "meets_target": ratio >= TARGET_RATIO,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
