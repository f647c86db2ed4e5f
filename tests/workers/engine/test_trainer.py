from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from workers.engine import preflight
from workers.engine.checkpoint import D_LOSS_FILE, G_LOSS_FILE, CheckpointError, latest_checkpoint
from workers.engine.data import fake_dataset
from workers.engine.families import get_family
from workers.engine.generation import generate
from workers.engine.runtime import Runtime
from workers.engine.trainer import Progress, build_parts, epoch_order, make_plan, train
from workers.spec import JobSpec

SMALL_CGAN = {
    "model": "mnist-cgan",
    "dataset": {"source": "builtin:mnist-sample", "limit": 512},
    "training": {"batch_size": 64, "epochs": 5, "checkpoint_every": 10, "seed": 7},
}


def test_book_mode_reproduces_the_1010_notebook(tmp_path: Path) -> None:
    result = train(JobSpec(model="pattern-1010", training={"mode": "book"}), tmp_path)
    assert result.status == "completed" and result.steps == 10_000
    assert result.plan.batch_size == 1 and result.plan.optimizer.kind == "sgd"
    output = generate(result.parts.generator.eval(), [0])[0].tolist()
    # the book ends near [0.94, 0.05, 0.94, 0.05]
    assert output[0] > 0.8 and output[2] > 0.8, output
    assert output[1] < 0.2 and output[3] < 0.2, output
    # recorded as the book does: every 10th call; D is called twice per sample
    assert len(result.history.d_loss) == 2000 and len(result.history.g_loss) == 1000


def test_book_mode_walks_in_index_order_and_batched_mode_shuffles_per_epoch() -> None:
    book = make_plan(JobSpec(model="mnist-gan", training={"mode": "book"}), 10)
    assert epoch_order(book, 0, 10).tolist() == list(range(10))
    batched = make_plan(JobSpec(model="mnist-gan", training={"seed": 1}), 1000)
    first, again = epoch_order(batched, 0, 1000), epoch_order(batched, 0, 1000)
    assert torch.equal(first, again) and sorted(first.tolist()) == list(range(1000))
    assert not torch.equal(first, epoch_order(batched, 1, 1000))


def test_resume_continues_exactly_like_an_uninterrupted_run(tmp_path: Path) -> None:
    spec = JobSpec.model_validate(SMALL_CGAN)
    whole = train(spec, tmp_path / "whole")

    calls = {"n": 0}

    def stop_at_23() -> bool:
        calls["n"] += 1
        return calls["n"] > 23

    first = train(spec, tmp_path / "split", should_stop=stop_at_23)
    assert first.status == "stopped" and first.steps == 23
    folder = tmp_path / "split" / "checkpoints"
    assert latest_checkpoint(folder).name == "step-0000000023.pt"
    # as if a worker died between appending losses and renaming the next checkpoint
    for name in (D_LOSS_FILE, G_LOSS_FILE):
        with (folder / name).open("ab") as file:
            file.write(torch.full((5,), 99.0).numpy().tobytes())
    updates: list[Progress] = []
    second = train(spec, tmp_path / "split", on_progress=updates.append)
    assert second.status == "completed" and second.resumed_from == 23
    # the resume point: 23 until the checkpoint at step 30 is written, then 30, then 40
    reported = {u.step: u.checkpoint_step for u in updates}
    assert [reported[step] for step in (24, 29, 30, 39, 40)] == [23, 23, 30, 30, 40]
    assert second.steps == whole.steps == 40
    assert second.history.d_loss == whole.history.d_loss
    assert second.history.g_loss == whole.history.g_loss
    # the history read back from the loss files is the one kept in memory, to the bit
    again = train(spec, tmp_path / "split")
    assert again.resumed_from == 40 and again.history.d_loss == whole.history.d_loss
    assert again.history.g_loss == whole.history.g_loss
    for network in ("generator", "ema"):  # the moving average resumes to the bit too
        for (name, a), (_, b) in zip(
            getattr(whole.parts, network).state_dict().items(),
            getattr(second.parts, network).state_dict().items(),
            strict=True,
        ):
            assert torch.equal(a, b), (network, name)
    assert second.parts.ema_updates == whole.parts.ema_updates == 40


def test_a_finished_run_resumes_to_nothing(tmp_path: Path) -> None:
    spec = JobSpec.model_validate(SMALL_CGAN | {"training": {"max_steps": 3, "batch_size": 64}})
    train(spec, tmp_path)
    again = train(spec, tmp_path)
    assert again.resumed_from == 3 and again.steps == 3


def test_a_checkpoint_of_another_spec_is_refused(tmp_path: Path) -> None:
    spec = JobSpec.model_validate(SMALL_CGAN | {"training": {"max_steps": 2, "batch_size": 64}})
    train(spec, tmp_path)
    other = JobSpec.model_validate(SMALL_CGAN | {"training": {"max_steps": 2, "lr": 0.01}})
    with pytest.raises(CheckpointError, match="different job spec"):
        train(other, tmp_path)


def test_progress_reports_every_field(tmp_path: Path) -> None:
    updates: list[Progress] = []
    spec = JobSpec.model_validate(SMALL_CGAN)
    train(spec, tmp_path, on_progress=updates.append)
    assert updates, "no progress was reported"
    steps = [u.step for u in updates]
    assert steps == sorted(steps) and steps[-1] == 40
    last = updates[-1]
    assert last.total_steps == 40 and last.epoch == last.epochs == 5
    assert last.d_loss is not None and last.g_loss is not None
    assert 0 <= last.d_real <= 1 and 0 <= last.d_fake <= 1
    assert last.samples_per_s > 0 and last.eta_s == 0


def test_a_checkpoint_floor_in_seconds_leaves_only_the_final_checkpoint(tmp_path: Path) -> None:
    spec = JobSpec.model_validate(SMALL_CGAN)  # 40 steps, a checkpoint every 10
    updates: list[Progress] = []
    train(spec, tmp_path, on_progress=updates.append, checkpoint_min_s=3600)
    assert [path.name for path in checkpoint_steps(tmp_path)] == ["step-0000000040.pt"]
    assert {u.checkpoint_step for u in updates if u.step < 40} == {0}
    assert updates[-1].checkpoint_step == 40


def test_a_stop_writes_a_checkpoint_despite_the_floor(tmp_path: Path) -> None:
    spec = JobSpec.model_validate(SMALL_CGAN)
    calls = iter(range(100))
    result = train(spec, tmp_path, should_stop=lambda: next(calls) >= 15, checkpoint_min_s=3600)
    assert result.status == "stopped"
    assert [path.name for path in checkpoint_steps(tmp_path)] == ["step-0000000015.pt"]


def test_stop_is_checked_every_step(tmp_path: Path) -> None:
    spec = JobSpec.model_validate(SMALL_CGAN)
    result = train(spec, tmp_path, should_stop=lambda: True)
    assert result.status == "stopped" and result.steps == 0


def test_plan_is_written_beside_the_outputs(tmp_path: Path) -> None:
    spec = JobSpec.model_validate(SMALL_CGAN | {"training": {"max_steps": 1, "precision": "fp32"}})
    train(spec, tmp_path)
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert plan["precision"] == "fp32" and plan["device"] == "cpu" and plan["total_steps"] == 1
    assert json.loads((tmp_path / "spec.json").read_text())["model"] == "mnist-cgan"


def test_the_moving_average_is_on_in_batched_mode_and_off_in_the_books(tmp_path: Path) -> None:
    batched = JobSpec.model_validate(SMALL_CGAN)
    assert make_plan(batched, 512).ema_decay == 0.999
    book = JobSpec.model_validate({"model": "mnist-cgan", "training": {"mode": "book"}})
    assert make_plan(book, 512).ema_decay == 0.0 and build_parts(make_plan(book, 512)).ema is None
    off = JobSpec.model_validate(SMALL_CGAN | {"training": {"ema_decay": 0}})
    assert build_parts(make_plan(off, 512)).ema is None
    spec = JobSpec.model_validate(SMALL_CGAN | {"training": {"max_steps": 3, "ema_decay": 0.9}})
    result = train(spec, tmp_path)
    parts = result.parts
    assert parts.final_generator is parts.ema and parts.ema_updates == 3
    assert json.loads((tmp_path / "plan.json").read_text())["ema_decay"] == 0.9
    assert not any(averaged.requires_grad for averaged in parts.ema.parameters())
    moved = [
        not torch.equal(a, g)
        for a, g in zip(parts.ema.parameters(), parts.generator.parameters(), strict=True)
    ]
    assert any(moved)  # an average of three steps, not G itself


def test_the_average_follows_the_generator_between_its_old_and_new_weights() -> None:
    from workers.engine.steps import update_ema

    spec = JobSpec.model_validate(SMALL_CGAN | {"training": {"ema_decay": 0.5}})
    parts = build_parts(make_plan(spec, 512))
    assert parts.ema is not None
    before = [p.clone() for p in parts.ema.parameters()]
    with torch.no_grad():
        for parameter in parts.generator.parameters():
            parameter.add_(1.0)
    update_ema(parts)  # first update: decay min(0.5, 2/11) = 2/11, the warm-up's
    for old, averaged in zip(before, parts.ema.parameters(), strict=True):
        assert torch.allclose(averaged, old + 9 / 11, atol=1e-6)


def test_a_checkpoint_from_before_the_average_resumes(tmp_path: Path) -> None:
    spec = JobSpec.model_validate(SMALL_CGAN)
    stops = iter([False] * 12 + [True])
    train(spec, tmp_path, should_stop=lambda: next(stops))
    path = latest_checkpoint(tmp_path / "checkpoints")
    assert path is not None
    payload = torch.load(path, weights_only=True)
    del payload["ema"], payload["ema_updates"], payload["spec"]["training"]["ema_decay"]
    torch.save(payload, path)  # as the worker before this version wrote it
    resumed = train(spec, tmp_path)
    assert resumed.status == "completed" and resumed.resumed_from == 12
    assert resumed.parts.ema_updates == resumed.steps - 12  # the average started at G


def test_a_conditional_d_projects_its_label_in_batched_mode_and_concatenates_in_the_books() -> None:
    batched = make_plan(JobSpec.model_validate(SMALL_CGAN), 512)
    assert batched.label_input == "projection" and batched.describe()["label_input"] == "projection"
    assert type(build_parts(batched).discriminator).__name__ == "ProjectionMLPDiscriminator"
    book = make_plan(
        JobSpec.model_validate({"model": "mnist-cgan", "training": {"mode": "book"}}), 9
    )
    assert type(build_parts(book).discriminator).__name__ == "MLPDiscriminator"
    asked = JobSpec.model_validate(SMALL_CGAN | {"training": {"label_input": "concat"}})
    assert type(build_parts(make_plan(asked, 512)).discriminator).__name__ == "MLPDiscriminator"
    unconditional = make_plan(JobSpec.model_validate({"model": "mnist-gan"}), 512)
    assert unconditional.describe()["label_input"] is None
    with pytest.raises(ValueError, match="conditional models"):
        JobSpec.model_validate({"model": "mnist-gan", "training": {"label_input": "projection"}})


def test_book_mode_refuses_a_batch_size(tmp_path: Path) -> None:
    # refused by the spec itself or, failing that, by the plan (a ValidationError is a ValueError)
    with pytest.raises(ValueError, match="book mode"):
        train(JobSpec(model="mnist-gan", training={"mode": "book", "batch_size": 32}), tmp_path)


def test_preflight_stops_a_job_whose_data_is_noise(tmp_path: Path) -> None:
    spec = JobSpec(model="mnist-gan", training={"max_steps": 5})
    noise = fake_dataset(get_family("mnist-gan"), 256)
    with pytest.raises(
        preflight.PreflightError, match="could not tell real data from uniform noise"
    ):
        train(spec, tmp_path, dataset=noise)
    assert latest_checkpoint(tmp_path / "checkpoints") is None


def test_preflight_refuses_a_generator_of_the_wrong_shape(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    family = get_family("mnist-gan")
    monkeypatch.setattr(
        type(family), "sample_shape", property(lambda self: [1, 14, 14]), raising=False
    )
    spec = JobSpec(model="mnist-gan", training={"max_steps": 1})
    parts = build_parts(make_plan(spec, 10))
    with pytest.raises(preflight.PreflightError, match="expected"):
        preflight.check_generator_output(parts)


def test_cuda_request_without_cuda_is_a_clear_error(tmp_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    spec = JobSpec(model="mnist-gan", training={"device": "cuda", "max_steps": 1})
    with pytest.raises(ValueError, match="no CUDA device"):
        train(spec, tmp_path)


def test_fp16_trains_with_a_gradient_scaler(tmp_path: Path) -> None:
    """The CUDA fallback for GPUs without bf16, exercised on the CPU."""
    training = {"precision": "fp16", "max_steps": 4, "batch_size": 32, "preflight": False}
    spec = JobSpec.model_validate(SMALL_CGAN | {"training": training})
    result = train(spec, tmp_path)
    assert result.plan.runtime.precision == "fp16" and result.parts.scaler.is_enabled()
    assert all(torch.isfinite(torch.tensor(result.history.d_loss + result.history.g_loss)))


def checkpoint_steps(run_dir: Path) -> list[Path]:
    folder = run_dir / "checkpoints"
    return sorted(folder.glob("step-*.pt")) if folder.is_dir() else []


def test_a_run_resumes_where_auto_picks_another_precision(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A checkpoint of an fp32 worker resumes on one where 'auto' means fp16 (as GPU to CPU)."""
    spec = JobSpec.model_validate(SMALL_CGAN | {"training": {"max_steps": 6, "batch_size": 64}})
    calls = iter(range(100))
    first = train(spec, tmp_path, should_stop=lambda: next(calls) >= 3)  # stops after 3 steps
    assert first.status == "stopped" and first.parts.noise.device.type == "cpu"
    monkeypatch.setattr(
        "workers.engine.plan.choose_runtime", lambda *_: Runtime(torch.device("cpu"), torch.float16)
    )
    second = train(spec, tmp_path)
    assert second.status == "completed" and second.resumed_from == first.steps
    assert second.parts.scaler.is_enabled()


def test_a_checkpoint_with_foreign_state_is_a_checkpoint_error(tmp_path: Path) -> None:
    spec = JobSpec.model_validate(SMALL_CGAN | {"training": {"max_steps": 2, "batch_size": 64}})
    train(spec, tmp_path / "run")
    path = checkpoint_steps(tmp_path / "run")[-1]
    payload = torch.load(path, weights_only=True)
    payload["noise_rng"] = torch.zeros(16, dtype=torch.uint8)  # a CUDA generator's state
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="cannot be resumed from"):
        train(spec, tmp_path / "run")


def test_fp32_means_no_tf32_convolutions() -> None:
    conv = torch.backends.cudnn.conv  # type: ignore[attr-defined]
    before = conv.fp32_precision
    try:
        Runtime(torch.device("cpu"), None).apply_math_mode()
        assert conv.fp32_precision == "ieee"
        Runtime(torch.device("cpu"), torch.bfloat16).apply_math_mode()
        assert conv.fp32_precision == "tf32"
    finally:
        conv.fp32_precision = before
