"""TorchServe's launcher: Java 17 is found here, and a missing or older one is named."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.stack.processes import StackError
from services.stack.torchserve import check_java


def test_java_is_found_here() -> None:
    assert check_java() >= 17


def test_missing_java_names_java_17(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))  # a JAVA_HOME without bin/java
    with pytest.raises(StackError, match="Java 17"):
        check_java()


def test_an_older_java_is_refused_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    java = tmp_path / "bin" / "java"
    java.parent.mkdir()
    java.write_text("#!/bin/sh\necho 'openjdk version \"11.0.22\" 2024-01-16' >&2\n")
    java.chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(StackError, match=r"Java 11 is too old\. TorchServe needs Java 17"):
        check_java()
