from __future__ import annotations

import http.server
import json
import socketserver
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from model_archive.client import (
    NoManagementAPI,
    TorchServeClient,
    TorchServeKeyRefused,
    TorchServeUnavailable,
)
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


class KeyCheckingServer:
    """One of TorchServe's APIs on a free port, refusing a wrong key as TorchServe 0.12 does
    (400 InvalidKeyException); records the Authorization header of every request."""

    def __init__(self, key: str, unix_socket: Path | None = None) -> None:
        self.key = key
        self.seen: list[str | None] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # the name http.server calls
                given = self.headers.get("Authorization")
                server.seen.append(given)
                body: dict[str, object] = {"status": "Healthy", "models": []}
                status = 200
                if given != f"Bearer {server.key}":
                    status, body = 400, {"code": 400, "type": "InvalidKeyException"}
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_POST = do_GET

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.http: socketserver.BaseServer
        if unix_socket is None:
            self.http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
            self.url = f"http://127.0.0.1:{self.http.server_address[1]}"  # type: ignore[attr-defined]
        else:
            self.http = UnixHTTPServer(str(unix_socket), Handler)
            self.url = f"unix:{unix_socket}"
        threading.Thread(target=self.http.serve_forever, args=(0.05,), daemon=True).start()


class UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self) -> tuple[object, tuple[str, int]]:
        request, _ = super().get_request()
        return request, ("unix", 0)  # http.server wants a (host, port) client address


def write_keys(path: Path, management: str, inference: str) -> Path:
    """A key file laid out as TorchServe 0.12 writes it."""
    expires = "2036-01-01T00:00:00Z"
    path.write_text(
        json.dumps(
            {
                "management": {"key": management, "expiration time": expires},
                "inference": {"key": inference, "expiration time": expires},
                "API": {"key": "token-api-key"},
            }
        )
    )
    return path


@pytest.fixture
def servers() -> Iterator[tuple[KeyCheckingServer, KeyCheckingServer]]:
    inference, management = KeyCheckingServer("inf-1"), KeyCheckingServer("mgmt-1")
    yield inference, management
    for server in (inference, management):
        server.http.shutdown()
        server.http.server_close()


def test_each_api_gets_its_own_key_read_once(
    servers: tuple[KeyCheckingServer, KeyCheckingServer], tmp_path: Path
) -> None:
    inference, management = servers
    keys = write_keys(tmp_path / "key_file.json", "mgmt-1", "inf-1")
    client = TorchServeClient(inference.url, management.url, key_file=keys)
    assert client.ping() is True and client.list_models() == []
    keys.unlink()  # read once: the client does not need the file again until a key is refused
    assert client.ping() is True and client.list_models() == []
    assert inference.seen == ["Bearer inf-1"] * 2 and management.seen == ["Bearer mgmt-1"] * 2
    assert "mgmt-1" not in repr(client)


def test_the_management_api_may_be_a_unix_socket_as_torchserve_names_it(tmp_path: Path) -> None:
    inference = KeyCheckingServer("inf-1")
    management = KeyCheckingServer("mgmt-1", unix_socket=tmp_path / "management.sock")
    try:
        keys = write_keys(tmp_path / "key_file.json", "mgmt-1", "inf-1")
        client = TorchServeClient(inference.url, management.url, key_file=keys)
        assert management.url.startswith("unix:/")
        assert client.list_models() == [] and client.list_models() == []  # kept alive
        assert management.seen == ["Bearer mgmt-1"] * 2 and inference.seen == []
        (tmp_path / "management.sock").unlink()
        management.http.shutdown()
        management.http.server_close()
        with pytest.raises(TorchServeUnavailable, match=r"management\.sock did not answer"):
            TorchServeClient(inference.url, management.url, key_file=keys).list_models()
    finally:
        for server in (inference, management):
            server.http.shutdown()
            server.http.server_close()


def test_a_refused_key_makes_the_client_read_the_file_again(
    servers: tuple[KeyCheckingServer, KeyCheckingServer], tmp_path: Path
) -> None:
    inference, management = servers
    keys = write_keys(tmp_path / "key_file.json", "mgmt-1", "inf-1")
    client = TorchServeClient(inference.url, management.url, key_file=keys)
    assert client.list_models() == []
    management.key, inference.key = "mgmt-2", "inf-2"  # TorchServe restarted: new keys
    write_keys(keys, "mgmt-2", "inf-2")
    assert client.list_models() == []
    assert management.seen == ["Bearer mgmt-1", "Bearer mgmt-1", "Bearer mgmt-2"]
    assert client.infer("digits", {"n": 1}).status == 200  # the inference key came along


def test_a_key_refused_again_raises_even_without_check(
    servers: tuple[KeyCheckingServer, KeyCheckingServer], tmp_path: Path
) -> None:
    inference, management = servers
    keys = write_keys(tmp_path / "key_file.json", "inf-1", "mgmt-1")  # each in the other's place
    client = TorchServeClient(inference.url, management.url, key_file=keys)
    with pytest.raises(TorchServeKeyRefused) as refused:
        client.list_models()
    assert refused.value.status == 401 and str(keys) in refused.value.message
    assert isinstance(refused.value, TorchServeUnavailable)  # retried like an outage
    with pytest.raises(TorchServeKeyRefused):
        client.infer("digits", {"n": 1}, check=False)  # never passed on as the model's 400
    assert client.ping() is False
    assert management.seen == ["Bearer inf-1"] * 2  # the first try and one after re-reading


def test_without_a_key_file_no_key_is_sent_and_a_refusal_says_so(
    servers: tuple[KeyCheckingServer, KeyCheckingServer],
) -> None:
    inference, management = servers
    with pytest.raises(TorchServeKeyRefused) as refused:
        TorchServeClient(inference.url, management.url).list_models()
    assert "without a key" in refused.value.message and management.seen == [None]


def test_a_key_file_not_written_yet_is_an_outage(
    servers: tuple[KeyCheckingServer, KeyCheckingServer], tmp_path: Path
) -> None:
    inference, management = servers
    keys = tmp_path / "key_file.json"
    client = TorchServeClient(inference.url, management.url, key_file=keys)
    assert client.ping() is False
    with pytest.raises(TorchServeUnavailable) as caught:
        client.list_models()
    assert str(keys) in caught.value.message and management.seen == []
    keys.write_text('{"management": {"ke')  # TorchServe is writing it
    with pytest.raises(TorchServeUnavailable, match="not JSON"):
        client.list_models()
    write_keys(keys, "mgmt-1", "inf-1")
    assert client.list_models() == [] and client.ping() is True


def test_an_inference_only_client_makes_no_management_call(
    servers: tuple[KeyCheckingServer, KeyCheckingServer], tmp_path: Path
) -> None:
    inference, _ = servers
    keys = write_keys(tmp_path / "key_file.json", "mgmt-1", "inf-1")
    client = TorchServeClient(inference.url, key_file=keys)  # the gateway's
    assert client.ping() is True
    for call in (client.list_models, lambda: client.register("digits.v1.mar")):
        with pytest.raises(NoManagementAPI, match="no management URL"):
            call()


def test_a_slow_name_lookup_is_an_outage_now_and_its_answer_is_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A name whose lookup takes seconds (a compose network's DNS that does not know it) does not
    hold a request past its timeout; the lookup finishes in the background and is reused."""
    import socket

    from model_archive import client as module

    server = KeyCheckingServer("inf-1")
    port = server.url.rsplit(":", 1)[1]
    lookups: list[str] = []
    real = socket.getaddrinfo

    def slow(host: str, *args: object, **kwargs: object) -> list:
        if host != "127.0.0.1":  # a name: slow to look up
            lookups.append(host)
            time.sleep(1.0)
        return real("127.0.0.1", *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", slow)
    monkeypatch.setattr(module, "_addresses", {})
    client = TorchServeClient(f"http://torchserve.invalid:{port}", timeout_s=2)
    try:
        began = time.monotonic()
        assert client.ping(timeout_s=0.2) is False  # refused at its timeout, not after the lookup
        assert time.monotonic() - began < 0.6
        time.sleep(1.2)  # the lookup ends meanwhile
        began = time.monotonic()
        with pytest.raises(TorchServeKeyRefused):  # it reached the server: the name resolved
            client.infer("digits", {"n": 1})
        assert time.monotonic() - began < 0.5 and lookups == ["torchserve.invalid"]
    finally:
        server.http.shutdown()
        server.http.server_close()
