from __future__ import annotations

from pathlib import Path

import pytest
import torch

from workers.engine.checkpoint import (
    D_LOSS_FILE,
    G_LOSS_FILE,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
)
from workers.engine.history import LossHistory
from workers.engine.plan import make_plan
from workers.engine.steps import GanParts
from workers.engine.trainer import build_parts
from workers.spec import JobSpec

SPEC = JobSpec(model="pattern-1010", training={"max_steps": 10})
SPEC_DICT = SPEC.model_dump(mode="json")


def parts() -> GanParts:
    return build_parts(make_plan(SPEC, 10))


def history(steps: int, seed: int = 0) -> LossHistory:
    """A batched-mode history of ``steps`` steps: two D calls and one G call per step."""
    rng = torch.Generator().manual_seed(seed)
    # float32 values, as the trainer records them (``.float()``), so the files hold them exactly
    d_loss = torch.rand(2 * steps, generator=rng).tolist()
    g_loss = (torch.rand(steps, generator=rng) * 5).tolist()
    return LossHistory(1, d_loss, g_loss, d_calls=2 * steps, g_calls=steps)


def grow(base: LossHistory, steps: int) -> LossHistory:
    """``base`` followed by ``steps`` more steps of new losses."""
    more = history(steps, seed=len(base.g_loss) + 1)
    return LossHistory(
        1,
        base.d_loss + more.d_loss,
        base.g_loss + more.g_loss,
        base.d_calls + more.d_calls,
        base.g_calls + more.g_calls,
    )


def same(a: LossHistory, b: LossHistory) -> bool:
    return a.counts() == b.counts() and a.d_loss == b.d_loss and a.g_loss == b.g_loss


def test_checkpoint_size_does_not_grow_with_the_history(tmp_path: Path) -> None:
    networks = parts()
    short = save_checkpoint(tmp_path / "a", networks, history(100), 100, SPEC_DICT)
    long = save_checkpoint(tmp_path / "b", networks, history(10_000), 10_000, SPEC_DICT)
    assert abs(long.stat().st_size - short.stat().st_size) < 300
    assert (tmp_path / "b" / D_LOSS_FILE).stat().st_size == 4 * 20_000
    assert (tmp_path / "b" / G_LOSS_FILE).stat().st_size == 4 * 10_000


def test_save_and_load_round_trip_the_exact_history(tmp_path: Path) -> None:
    saved = history(300)
    path = save_checkpoint(tmp_path, parts(), saved, 300, SPEC_DICT)
    step, loaded = load_checkpoint(path, parts(), SPEC_DICT)
    assert step == 300 and same(loaded, saved)


def test_each_save_appends_only_the_new_losses_and_the_older_checkpoint_still_loads(
    tmp_path: Path,
) -> None:
    networks, first = parts(), history(50)
    older = save_checkpoint(tmp_path, networks, first, 50, SPEC_DICT)
    d_file = tmp_path / D_LOSS_FILE
    head = d_file.read_bytes()
    second = grow(first, 30)
    newer = save_checkpoint(tmp_path, networks, second, 80, SPEC_DICT)
    assert d_file.read_bytes()[: len(head)] == head and d_file.stat().st_size == 4 * 160
    assert same(load_checkpoint(newer, parts(), SPEC_DICT)[1], second)
    assert same(load_checkpoint(older, parts(), SPEC_DICT)[1], first)


def test_losses_appended_after_the_last_checkpoint_are_dropped(tmp_path: Path) -> None:
    """A worker killed between appending and renaming leaves extra entries behind."""
    networks, saved = parts(), history(40)
    path = save_checkpoint(tmp_path, networks, saved, 40, SPEC_DICT)
    for name in (D_LOSS_FILE, G_LOSS_FILE):
        with (tmp_path / name).open("ab") as file:
            file.write(torch.full((25,), 99.0).numpy().tobytes() + b"\x01\x02")  # and a torn one
    _, loaded = load_checkpoint(path, networks, SPEC_DICT)
    assert same(loaded, saved)
    assert (tmp_path / G_LOSS_FILE).stat().st_size == 4 * 40
    resumed = grow(loaded, 10)
    path = save_checkpoint(tmp_path, networks, resumed, 50, SPEC_DICT)
    assert same(load_checkpoint(path, parts(), SPEC_DICT)[1], resumed)


def test_loss_files_left_without_any_checkpoint_are_started_afresh(tmp_path: Path) -> None:
    """A run killed before its first checkpoint was renamed: its losses belong to no checkpoint."""
    (tmp_path / D_LOSS_FILE).write_bytes(torch.full((7,), 99.0).numpy().tobytes())
    (tmp_path / G_LOSS_FILE).write_bytes(b"")
    saved = history(5)
    path = save_checkpoint(tmp_path, parts(), saved, 5, SPEC_DICT)
    assert same(load_checkpoint(path, parts(), SPEC_DICT)[1], saved)


def test_a_cut_short_loss_file_is_a_checkpoint_error_naming_it(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path, parts(), history(40), 40, SPEC_DICT)
    g_file = tmp_path / G_LOSS_FILE
    g_file.write_bytes(g_file.read_bytes()[: 4 * 30])
    with pytest.raises(CheckpointError, match=rf"{G_LOSS_FILE}: holds 30 losses.* records 40"):
        load_checkpoint(path, parts(), SPEC_DICT)
    assert g_file.stat().st_size == 4 * 30  # a refused checkpoint changes nothing
    g_file.unlink()
    with pytest.raises(CheckpointError, match=rf"{G_LOSS_FILE}: missing"):
        load_checkpoint(path, parts(), SPEC_DICT)


def test_a_format_1_checkpoint_still_loads_and_resumes(tmp_path: Path) -> None:
    """Format 1 kept the whole history inside the checkpoint and wrote no loss files."""
    networks, old = parts(), history(20)
    path = save_checkpoint(tmp_path, networks, old, 20, SPEC_DICT)
    payload = torch.load(path, weights_only=True)
    payload["format"], payload["history"] = 1, old.to_dict()
    torch.save(payload, path)
    for name in (D_LOSS_FILE, G_LOSS_FILE):
        (tmp_path / name).unlink()
    step, loaded = load_checkpoint(path, networks, SPEC_DICT)
    assert step == 20 and same(loaded, old)
    resumed = grow(loaded, 5)
    path = save_checkpoint(tmp_path, networks, resumed, 25, SPEC_DICT)
    assert same(load_checkpoint(path, parts(), SPEC_DICT)[1], resumed)
