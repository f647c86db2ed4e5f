from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import workers.engine.generation as generation_module
import workers.engine.networks as networks_module
from workers.engine.generation import (
    ArtifactError,
    generate,
    generate_from_latents,
    interpolate,
    load_artifact,
    seed_arithmetic,
    seed_latents,
    to_png,
)
from workers.engine.pipeline import JobOutcome


@pytest.fixture(scope="module")
def artifact(trained_cgan: JobOutcome) -> Path:
    return Path(trained_cgan.artifacts["generator"])


def test_artifact_is_a_plain_dict_that_loads_with_weights_only(artifact: Path) -> None:
    raw = torch.load(artifact, weights_only=True)
    assert raw["family"] == "mnist-cgan" and raw["z_dim"] == 100 and raw["num_classes"] == 10
    assert raw["output_shape"] == [1, 28, 28] and raw["class_names"][7] == "7"
    assert raw["spec"]["model"] == "mnist-cgan" and "conditional" in raw["metrics"]


def test_artifact_rebuilds_without_the_training_code(artifact: Path, tmp_path: Path) -> None:
    """What serving gets: the two modules side by side, no workers package, a fresh interpreter."""
    shutil.copy(networks_module.__file__, tmp_path / "networks.py")
    shutil.copy(generation_module.__file__, tmp_path / "generation.py")
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        import generation
        generator, meta = generation.load_artifact({str(artifact)!r})
        images = generation.generate(generator, [1, 2, 3], [7, 7, 7])
        assert "workers" not in sys.modules, "the training code was imported"
        print(tuple(images.shape), meta["family"])
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(3, 1, 28, 28) mnist-cgan"


def test_same_seed_same_image_whatever_else_is_in_the_batch(artifact: Path) -> None:
    generator, _ = load_artifact(artifact)
    alone = generate(generator, [42], [7])
    crowded = generate(generator, [1, 42, 3], [2, 7, 9])
    assert torch.allclose(alone[0], crowded[1], atol=1e-6)
    assert not torch.allclose(generate(generator, [43], [7])[0], alone[0])


def test_bad_labels_are_refused(artifact: Path) -> None:
    generator, _ = load_artifact(artifact)
    with pytest.raises(ValueError, match="send a label"):
        generate(generator, [1])
    with pytest.raises(ValueError, match="out of range"):
        generate(generator, [1], [10])


def test_interpolation_runs_from_one_seed_to_the_other(artifact: Path) -> None:
    generator, _ = load_artifact(artifact)
    start, end = seed_latents(generator, [1, 2])
    z = interpolate(start, end, 12)
    assert z.shape == (12, 100)
    assert torch.allclose(z[0], start) and torch.allclose(z[-1], end)
    assert torch.allclose(z[1] - z[0], (end - start) / 11)  # the book's k/11 steps
    images = generate_from_latents(generator, z, [5] * 12)
    assert torch.allclose(images[0], generate(generator, [1], [5])[0], atol=1e-6)


def test_seed_arithmetic_rows(artifact: Path) -> None:
    generator, _ = load_artifact(artifact)
    a, b = seed_latents(generator, [3, 4])
    z = seed_arithmetic(a, b)
    assert torch.allclose(z[2], a + b) and torch.allclose(z[3], a - b)


def test_png_encoding(artifact: Path) -> None:
    from io import BytesIO

    from PIL import Image

    generator, _ = load_artifact(artifact)
    picture = Image.open(BytesIO(to_png(generate(generator, [0], [1])[0])))
    assert picture.size == (28, 28) and picture.mode == "L"
    strip = Image.open(BytesIO(to_png(torch.tensor([0.9, 0.1, 0.9, 0.1]))))
    assert strip.size == (4, 1)


def test_broken_artifacts_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="not found"):
        load_artifact(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ArtifactError, match="not a generator artifact"):
        load_artifact(tmp_path / "junk.pt")
    torch.save({"format": 99}, tmp_path / "future.pt")
    with pytest.raises(ArtifactError, match="unknown artifact format"):
        load_artifact(tmp_path / "future.pt")
