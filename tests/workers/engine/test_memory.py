from __future__ import annotations

from pathlib import Path

import pytest
import torch

from workers.engine import memory
from workers.engine.celeba import reader
from workers.engine.celeba.build import build_hdf5
from workers.engine.celeba.faces import offline_faces, write_faces_zip
from workers.engine.celeba.layout import CelebaError
from workers.engine.celeba.reader import load_pixels
from workers.engine.memory import available_host_bytes, dataset_home

GIB = 2**30


def write_meminfo(folder: Path, available_kib: int) -> Path:
    path = folder / "meminfo"
    path.write_text(f"MemTotal:       99999999 kB\nMemAvailable:   {available_kib} kB\n")
    return path


def test_host_bytes_come_from_meminfo_when_no_container_limit(tmp_path: Path) -> None:
    meminfo = write_meminfo(tmp_path, 8 * 2**20)  # 8 GiB
    (tmp_path / "memory.max").write_text("max\n")  # cgroup v2 without a limit
    (tmp_path / "memory.current").write_text(str(GIB))
    assert available_host_bytes(meminfo, tmp_path) == 8 * GIB
    assert available_host_bytes(meminfo, tmp_path / "absent") == 8 * GIB


@pytest.mark.parametrize(
    "files",
    [
        ("memory.max", "memory.current"),
        ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes"),
    ],
)
def test_a_container_limit_lowers_what_is_free(tmp_path: Path, files: tuple[str, str]) -> None:
    meminfo = write_meminfo(tmp_path, 8 * 2**20)
    (tmp_path / "memory").mkdir()
    (tmp_path / files[0]).write_text(str(3 * GIB))
    (tmp_path / files[1]).write_text(str(GIB))
    assert available_host_bytes(meminfo, tmp_path) == 2 * GIB


def test_unreadable_meminfo_means_unknown(tmp_path: Path) -> None:
    assert available_host_bytes(tmp_path / "none", tmp_path) is None
    (tmp_path / "garbled").write_text("MemAvailable: lots\n")
    assert available_host_bytes(tmp_path / "garbled", tmp_path) is None


def test_this_machine_reports_some_free_memory() -> None:
    free = available_host_bytes()
    assert free is not None and free > 0


def test_a_load_too_big_for_the_host_names_a_limit_that_fits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = build_hdf5(write_faces_zip(offline_faces(6), tmp_path / "f.zip"), tmp_path / "f.h5")
    image = 3 * 128 * 128
    monkeypatch.setattr(reader, "available_host_bytes", lambda: int(4 * image / memory.HOST_SHARE))
    assert load_pixels(target, crop=True, limit=4).shape[0] == 4  # just fits
    with pytest.raises(
        CelebaError, match=r"f\.h5: 6 images need .* set dataset\.limit to 4 or fewer"
    ):
        load_pixels(target, crop=True)
    assert target.is_file()


def test_the_dataset_stays_on_a_cpu_device() -> None:
    assert dataset_home(10**12, torch.device("cpu")) == torch.device("cpu")


def test_a_dataset_too_big_for_the_gpu_stays_on_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (10 * GIB, 80 * GIB))
    cuda = torch.device("cuda", 0)
    assert dataset_home(5 * GIB, cuda) == cuda
    assert dataset_home(5 * GIB + 1, cuda) == torch.device("cpu")
