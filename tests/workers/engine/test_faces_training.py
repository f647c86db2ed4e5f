"""The face GANs train on the offline faces, at small scale."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from workers.engine.celeba.faces import offline_faces
from workers.engine.data import load_dataset
from workers.engine.families import get_family
from workers.engine.generation import generate, load_artifact
from workers.engine.pipeline import run_job
from workers.spec import DatasetSpec, JobSpec


def test_the_offline_faces_are_real_pixels_cropped_for_the_dcgan() -> None:
    full = load_dataset(DatasetSpec(source="builtin:faces-sample"), get_family("celeba-gan"))
    cropped = load_dataset(DatasetSpec(source="builtin:faces-sample"), get_family("celeba-dcgan"))
    assert full.train.images.shape == (100, 3, 218, 178) and full.train.images.dtype == torch.uint8
    assert cropped.train.images.shape == (100, 3, 128, 128)
    assert torch.equal(cropped.train.images, full.train.images[:, :, 45:173, 25:153])
    faces = torch.from_numpy(offline_faces(100)).permute(0, 3, 1, 2)  # exact: no float round trip
    assert torch.equal(full.train.images, faces)


@pytest.mark.parametrize("mode", ["batched", "book"])
def test_a_short_dcgan_run_gives_faces_and_a_loss_history(tmp_path: Path, mode: str) -> None:
    training = {"mode": mode, "max_steps": 20 if mode == "book" else 4, "precision": "fp32"}
    if mode == "batched":
        training["batch_size"] = 4
    outcome = run_job(JobSpec(model="celeba-dcgan", training=training), tmp_path)
    assert outcome.status == "completed"
    history = json.loads((tmp_path / "history.json").read_text())
    assert history["g_calls"] == training["max_steps"] and history["d_loss"] and history["g_loss"]
    generator, meta = load_artifact(tmp_path / "generator.pt")
    assert meta["output_shape"] == [3, 128, 128] and meta["class_names"] == []
    faces = generate(generator, [1, 2, 3])
    assert faces.shape == (3, 3, 128, 128) and float(faces.min()) >= 0 and float(faces.max()) <= 1
    assert torch.allclose(faces[0], generate(generator, [1])[0], atol=1e-4)  # a seed names a face
    assert (tmp_path / "samples.png").is_file() and (tmp_path / "loss.png").is_file()
