from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from model_archive.builder import ArchiveError, ModelConfig, build_archive
from tests.model_archive.conftest import write_artifact


def test_archive_holds_handler_modules_weights_and_config(tmp_path: Path) -> None:
    artifact = write_artifact(tmp_path / "run", "mnist-cgan")
    config = ModelConfig(batch_size=8, max_batch_delay_ms=3, max_images=32)
    mar = build_archive(artifact, "digits", "2", tmp_path / "store", config)
    assert mar.name == "digits.v2.mar"
    with zipfile.ZipFile(mar) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("MAR-INF/MANIFEST.json"))
        yaml_text = archive.read("model-config.yaml").decode()
    assert {
        "handler.py",
        "image_request.py",
        "problems.py",
        "limits.py",
        "networks.py",
        "generation.py",
        "generator.pt",
    } <= names
    assert not any(name.startswith(("trainer", "steps", "data")) for name in names)
    assert manifest["model"]["modelName"] == "digits" and manifest["model"]["modelVersion"] == "2"
    assert (
        "batchSize: 8" in yaml_text
        and "maxBatchDelay: 3" in yaml_text
        and "max_images: 32" in yaml_text
        and "cpu_threads: 0" in yaml_text  # the default: by the generator's size
    )


def test_the_packed_contract_imports_without_the_project(tmp_path: Path) -> None:
    """Inside TorchServe the packed modules lie side by side, outside any package."""
    artifact = write_artifact(tmp_path / "run", "mnist-cgan")
    mar = build_archive(artifact, "digits", "1", tmp_path / "store")
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(mar) as archive:
        archive.extractall(unpacked)
    code = (
        "import sys; sys.modules['workers'] = sys.modules['model_archive'] = None\n"
        "from image_request import parse_request\n"
        'plan = parse_request(b\'{"n": 2, "label": 3, "seed": 5}\', 10, 4)\n'
        "assert plan.seeds == [5, 6] and plan.label == 3, plan\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=unpacked, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_the_packed_handler_draws_grids_without_torchvision(tmp_path: Path) -> None:
    """A served model's worker never imports torchvision (~2 s of CPU each, all at once after a
    TorchServe restart)."""
    artifact = write_artifact(tmp_path / "run", "mnist-cgan")
    mar = build_archive(artifact, "digits", "1", tmp_path / "store")
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(mar) as archive:
        archive.extractall(unpacked)
    code = (
        "import sys, torch; sys.modules['workers'] = sys.modules['model_archive'] = None\n"
        "import handler\n"
        "from generation import grid, to_png\n"
        "png = to_png(grid(torch.rand(5, 1, 28, 28), 2))\n"
        "assert png.startswith(b'\\x89PNG'), png[:8]\n"
        "assert 'torchvision' not in sys.modules, 'torchvision was imported'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=unpacked, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("name", "version", "message"),
    [
        ("Digits", "1", "model name"),
        ("../x", "1", "model name"),
        ("digits", "v1", "version"),
        ("digits", "1.2.3.4", "version"),
    ],
)
def test_bad_names_and_versions_are_refused(
    tmp_path: Path, name: str, version: str, message: str
) -> None:
    artifact = write_artifact(tmp_path / "run", "mnist-gan")
    with pytest.raises(ArchiveError, match=message):
        build_archive(artifact, name, version, tmp_path / "store")


def test_a_missing_or_foreign_artifact_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="not found"):
        build_archive(tmp_path / "nope.pt", "digits", "1", tmp_path / "store")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(ArchiveError, match="not a generator artifact"):
        build_archive(tmp_path / "junk.pt", "digits", "1", tmp_path / "store")
    assert not list((tmp_path / "store").glob("*.mar")) if (tmp_path / "store").exists() else True
