from __future__ import annotations

from pathlib import Path

import pytest

from workers.engine.data import DataError
from workers.engine.preflight import PreflightError
from workers.runner import JobFailure, classify, inside_data_root


def test_relative_dataset_paths_start_at_the_data_root(tmp_path: Path) -> None:
    assert (
        inside_data_root("csv:mnist/train.csv", tmp_path)
        == f"csv:{tmp_path.resolve()}/mnist/train.csv"
    )
    assert inside_data_root(f"idx:{tmp_path}/raw", tmp_path) == f"idx:{tmp_path.resolve()}/raw"
    assert inside_data_root("hdf5:celeba.h5", tmp_path) == f"hdf5:{tmp_path.resolve()}/celeba.h5"
    assert inside_data_root("builtin:mnist-sample", tmp_path) == "builtin:mnist-sample"
    assert inside_data_root("builtin:faces-sample", tmp_path) == "builtin:faces-sample"


@pytest.mark.parametrize(
    "source",
    [
        "csv:/etc/passwd",
        "csv:../x.csv",
        "idx:a/../../b",
        "csv:/",
        "hdf5:/etc/shadow",
        "hdf5:../x.h5",
    ],
)
def test_paths_outside_the_data_root_are_refused(tmp_path: Path, source: str) -> None:
    with pytest.raises(JobFailure) as caught:
        inside_data_root(source, tmp_path / "data")
    assert caught.value.code == "bad_dataset"


def test_a_symlink_out_of_the_data_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.mkdir()
    (root / "link").symlink_to("/etc")
    with pytest.raises(JobFailure):
        inside_data_root("csv:link/passwd", root)


def test_errors_map_to_codes_a_user_can_act_on() -> None:
    assert classify(DataError("x.csv, line 3: 786 columns"))[0] == "bad_dataset"
    assert classify(PreflightError("pre-flight: ..."))[0] == "preflight_failed"
    code, message = classify(RuntimeError("CUDA out of memory. Tried to allocate 2 GiB"))
    assert code == "out_of_memory" and "batch_size" in message
    assert classify(KeyError("boom"))[0] == "internal_error"
