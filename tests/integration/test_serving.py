"""Against a real TorchServe: register, generate by label, errors, batching, versions."""

from __future__ import annotations

import base64
import io
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image

from model_archive.builder import build_archive
from model_archive.client import TorchServeError
from services.stack.torchserve import TorchServeProcess


def pngs(response) -> list[Image.Image]:  # type: ignore[no-untyped-def]
    return [Image.open(io.BytesIO(base64.b64decode(p))) for p in response.json()["images"]]


def test_images_of_a_label_come_back(torchserve: TorchServeProcess, digits: str) -> None:
    response = torchserve.client.infer(digits, {"n": 16, "label": 7, "seed": 1})
    assert response.status == 200 and response.content_type.startswith("application/json")
    payload = response.json()
    assert payload["label"] == 7 and payload["seeds"] == list(range(1, 17))
    assert [p.size for p in pngs(response)] == [(28, 28)] * 16


def test_same_seed_same_images(torchserve: TorchServeProcess, digits: str) -> None:
    first = torchserve.client.infer(digits, {"n": 4, "label": 2, "seed": 123}).json()["images"]
    again = torchserve.client.infer(digits, {"n": 4, "label": 2, "seed": 123}).json()["images"]
    assert first == again


def test_grid_png(torchserve: TorchServeProcess, digits: str) -> None:
    response = torchserve.client.infer(digits, {"n": 16, "label": 7, "format": "grid"})
    assert response.content_type == "image/png"
    assert Image.open(io.BytesIO(response.body)).size == (8 * 30 + 2, 2 * 30 + 2)


@pytest.mark.parametrize(
    "payload",
    [
        {"n": 0, "label": 1},
        {"n": 100000, "label": 1},
        {"n": 1, "label": 12},
        {"n": 1},
        {"n": "x", "label": 1},
    ],
)
def test_bad_requests_get_a_400_that_says_why(
    torchserve: TorchServeProcess, digits: str, payload: dict
) -> None:
    response = torchserve.client.infer(digits, payload, check=False)
    assert response.status == 400
    assert response.content_type.startswith("application/problem+json")
    assert response.json()["code"] == "invalid_request" and response.json()["detail"]
    # the worker survived and still answers
    assert torchserve.client.infer(digits, {"n": 1, "label": 1}).status == 200


def test_malformed_json_is_refused(torchserve: TorchServeProcess, digits: str) -> None:
    import urllib.error
    import urllib.request

    key = json.loads(torchserve.key_file.read_text())["inference"]["key"]
    request = urllib.request.Request(
        f"{torchserve.client.inference_url}/predictions/{digits}",
        data=b"{not json",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 400
    problem = json.loads(caught.value.read())
    assert problem["code"] == "bad_request" and "JSON" in problem["detail"]


def test_concurrent_requests_each_get_their_own_answer(
    torchserve: TorchServeProcess, digits: str
) -> None:
    def ask(label: int) -> tuple[int, int, list[str]]:
        payload = {"n": 2, "label": label, "seed": 50} if label >= 0 else {"n": 0, "label": 1}
        response = torchserve.client.infer(digits, payload, check=False)
        images = response.json().get("images", []) if response.status == 200 else []
        return label, response.status, images

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(ask, [i % 10 if i % 5 else -1 for i in range(32)]))
    for label, code, images in answers:
        assert code == (400 if label < 0 else 200)
        if label >= 0:
            alone = torchserve.client.infer(digits, {"n": 2, "label": label, "seed": 50}).json()[
                "images"
            ]
            assert images == alone


def test_unknown_model_is_a_404(torchserve: TorchServeProcess, digits: str) -> None:
    with pytest.raises(TorchServeError) as caught:
        torchserve.client.infer("no-such-model", {"n": 1})
    assert caught.value.status == 404


def test_versions_scale_and_unregister(
    torchserve: TorchServeProcess, digits: str, tmp_path: Path
) -> None:
    client = torchserve.client
    from tests.model_archive.conftest import write_artifact

    other = write_artifact(tmp_path / "v2", "mnist-cgan", seed=11)
    build_archive(other, digits, "2", torchserve.config.model_store)
    client.register("digits.v2.mar", digits)
    client.set_default(digits, "2")
    described = {d["modelVersion"]: d for d in client.describe(digits)}
    assert set(described) == {"1", "2"}
    payload = {"n": 1, "label": 5, "seed": 9}
    default = client.infer(digits, payload).json()["images"]
    assert default == client.infer(digits, payload, version="2").json()["images"]
    assert default != client.infer(digits, payload, version="1").json()["images"]
    assert any(m["modelName"] == digits for m in client.list_models())

    client.scale(digits, 2, version="2")
    workers = client.describe(digits, "2")[0]["workers"]
    assert len(workers) == 2
    client.set_default(digits, "1")
    client.unregister(digits, "2")
    assert [d["modelVersion"] for d in client.describe(digits)] == ["1"]
    assert client.infer(digits, payload).status == 200


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/evil.mar",
        "https://example.invalid/digits.v9.mar",
        "file:///etc/passwd",
    ],
)
def test_only_archives_of_the_model_store_can_be_registered(
    torchserve: TorchServeProcess, digits: str, url: str
) -> None:
    with pytest.raises(TorchServeError) as refused:
        torchserve.client.register(url, "intruder", timeout_s=10)
    assert refused.value.status in (400, 403, 404)
    assert "intruder" not in {m["modelName"] for m in torchserve.client.list_models()}


def test_a_valid_archive_outside_the_model_store_is_refused_by_allowed_urls(
    torchserve: TorchServeProcess, digits: str, cgan_artifact: Path, tmp_path: Path
) -> None:
    elsewhere = build_archive(cgan_artifact, "intruder", "1", tmp_path / "elsewhere")
    with pytest.raises(TorchServeError) as refused:  # TorchServe's default would load it
        torchserve.client.register(f"file://{elsewhere}", "intruder", timeout_s=30)
    assert "allowed" in refused.value.message.lower(), refused.value.message
    assert "intruder" not in {m["modelName"] for m in torchserve.client.list_models()}
