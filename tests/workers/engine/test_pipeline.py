from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from workers.engine import trainer
from workers.engine.cli import main
from workers.engine.pipeline import JobOutcome, run_job
from workers.spec import JobSpec

OUTPUTS = ("history.json", "loss.png", "samples.png", "metrics.json", "generator.pt", "spec.json")


def test_a_run_folder_holds_every_output(trained_cgan: JobOutcome) -> None:
    for name in OUTPUTS:
        assert (trained_cgan.run_dir / name).is_file(), name
    history = json.loads((trained_cgan.run_dir / "history.json").read_text())
    assert len(history["d_loss"]) == history["d_calls"] > 0
    assert history["loss"] == "bce" and history["ideal"] == pytest.approx(0.6931, abs=1e-4)
    assert Image.open(trained_cgan.run_dir / "loss.png").size[0] > 600


def test_conditional_sample_grid_has_one_row_per_class(trained_cgan: JobOutcome) -> None:
    grid = Image.open(trained_cgan.run_dir / "samples.png")
    # 10 rows and 10 columns of 28px digits with 2px padding, drawn at scale 2
    assert grid.size == (2 * (10 * 30 + 2), 2 * (10 * 30 + 2))


def write_spec(tmp_path: Path, payload: dict) -> Path:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(payload))
    return path


@pytest.mark.parametrize("model", ["pattern-1010", "mnist-gan-v1", "mnist-gan", "mnist-cgan"])
def test_cli_dry_run_writes_every_output(tmp_path: Path, model: str, capsys) -> None:  # type: ignore[no-untyped-def]
    spec = write_spec(tmp_path, {"model": model})
    assert main(["run", str(spec), "--out", str(tmp_path / "run"), "--dry-run", "--quiet"]) == 0
    for name in OUTPUTS:
        assert (tmp_path / "run" / name).is_file(), name
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["training"]["steps"] == 1 and metrics["training"]["dry_run"] is True
    assert "completed" in capsys.readouterr().out


def test_cli_refuses_an_invalid_spec_field_by_field(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    spec = write_spec(tmp_path, {"model": "mnist-gan", "training": {"lr": -1, "epochs": 0}})
    assert main(["run", str(spec), "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert "training.lr" in err and "training.epochs" in err
    assert not (tmp_path / "run").exists()


def test_cli_names_a_missing_dataset_file(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    spec = write_spec(tmp_path, {"model": "mnist-gan", "dataset": {"source": "csv:/nowhere/x.csv"}})
    assert main(["run", str(spec), "--out", str(tmp_path / "run"), "--quiet"]) == 1
    assert "/nowhere/x.csv: file not found" in capsys.readouterr().err


def test_cli_refuses_malformed_json(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "spec.json"
    path.write_text("{model: mnist")
    assert main(["run", str(path), "--out", str(tmp_path / "run")]) == 1
    assert "not valid JSON" in capsys.readouterr().err


def test_cli_generates_and_runs_the_seed_experiments(
    trained_cgan: JobOutcome, tmp_path: Path
) -> None:
    artifact = trained_cgan.artifacts["generator"]
    out = tmp_path / "sevens.png"
    assert main(["generate", artifact, "--label", "7", "--n", "16", "--out", str(out)]) == 0
    assert Image.open(out).size == (2 * (8 * 30 + 2), 2 * (2 * 30 + 2))
    inter = tmp_path / "morph.png"
    assert (
        main(["interpolate", artifact, "--seeds", "1", "2", "--label", "3", "--out", str(inter)])
        == 0
    )
    assert Image.open(inter).size == (2 * (4 * 30 + 2), 2 * (3 * 30 + 2))  # the book's 3x4 grid
    arith = tmp_path / "sums.png"
    assert (
        main(["arithmetic", artifact, "--seeds", "1", "2", "--label", "3", "--out", str(arith)])
        == 0
    )
    assert main(["generate", artifact, "--out", str(tmp_path / "x.png")]) == 1  # no label


def test_cli_builds_an_hdf5_file_the_engine_trains_on(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from workers.engine.celeba.faces import offline_faces, write_faces_zip
    from workers.engine.celeba.reader import CelebaImages

    archive = write_faces_zip(offline_faces(6), tmp_path / "faces.zip")
    target = tmp_path / "faces.h5"
    assert main(["build-hdf5", str(archive), "--out", str(target), "--limit", "5"]) == 0
    assert f"hdf5:{target}" in capsys.readouterr().out
    from workers.engine.data import load_dataset
    from workers.engine.families import get_family
    from workers.spec import DatasetSpec

    dataset = load_dataset(DatasetSpec(source=f"hdf5:{target}"), get_family("celeba-dcgan"))
    images = dataset.train.images
    assert images.shape == (5, 3, 128, 128) and images.dtype == torch.uint8
    assert torch.equal(images[4].float() / 255, CelebaImages(target, crop=True)[4])


def test_live_outputs_come_while_training_and_change_nothing_it_learns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(trainer, "LIVE_MIN_S", 0.0)  # every epoch's end, in a run of seconds
    spec = JobSpec(model="mnist-cgan", training={"epochs": 3, "seed": 0, "preflight": False})
    seen: list[tuple[int, bytes, int]] = []

    def live(step: int, paths: dict[str, str]) -> None:
        history = json.loads(Path(paths["history"]).read_text())
        assert Image.open(paths["loss_plot"]).size[0] > 600
        seen.append((step, Path(paths["samples"]).read_bytes(), len(history["d_loss"])))

    watched = run_job(spec, tmp_path / "watched", with_evaluation=False, on_live=live)
    plain = run_job(spec, tmp_path / "plain", with_evaluation=False)
    per_epoch = watched.metrics["training"]["steps"] // 3
    assert [step for step, _, _ in seen] == [1, per_epoch, 2 * per_epoch]  # not the last step
    assert len({grid for _, grid, _ in seen}) == 3  # the grid changes as it learns
    assert [n for _, _, n in seen] == sorted(n for _, _, n in seen)  # the series grows
    assert Image.open(io.BytesIO(seen[0][1])).size == (2 * (10 * 30 + 2), 2 * (10 * 30 + 2))
    weights = [torch.load(o.run_dir / "generator.pt")["state_dict"] for o in (watched, plain)]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
