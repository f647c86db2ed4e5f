from __future__ import annotations

import time

import pytest

from model_archive.client import TorchServeClient, TorchServeUnavailable
from services.stack.processes import free_port


def test_a_server_that_is_down_is_reported_quickly() -> None:
    port = free_port()  # nothing listens there
    client = TorchServeClient(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}", timeout_s=2)
    began = time.monotonic()
    assert client.ping() is False
    with pytest.raises(TorchServeUnavailable) as caught:
        client.infer("digits", {"n": 1})
    assert caught.value.status == 503 and "did not answer" in str(caught.value)
    with pytest.raises(TorchServeUnavailable):
        client.list_models()
    assert time.monotonic() - began < 2


def test_the_client_imports_no_torch() -> None:
    import subprocess
    import sys

    code = "import sys, model_archive.client; assert 'torch' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
