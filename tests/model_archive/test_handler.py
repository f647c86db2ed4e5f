from __future__ import annotations

import base64
import io
import json

import pytest
from PIL import Image

from workers.engine.families import FAMILIES, get_family


def images_of(response: object) -> list[Image.Image]:
    payload = json.loads(response)  # type: ignore[arg-type]
    return [Image.open(io.BytesIO(base64.b64decode(png))) for png in payload["images"]]


def status(context, index: int) -> int:  # type: ignore[no-untyped-def]
    return context.get_response_status(index)[0]


@pytest.mark.parametrize("family", [f for f in FAMILIES if f != "pattern-1010"])
def test_every_image_family_answers_pngs_with_their_seeds(serve, family: str) -> None:  # type: ignore[no-untyped-def]
    body = {"n": 3, "seed": 10} | ({"label": 4} if family == "mnist-cgan" else {})
    (response,), context = serve(family, [body])
    assert status(context, 0) == 200
    assert context.get_response_content_type(0) == "application/json"
    payload = json.loads(response)
    assert payload["seeds"] == [10, 11, 12] and payload["family"] == family
    pictures = images_of(response)
    _, height, width = get_family(family).sample_shape
    assert [p.size for p in pictures] == [(width, height)] * 3


def test_the_1010_generator_answers_its_four_values(serve) -> None:  # type: ignore[no-untyped-def]
    (response,), context = serve("pattern-1010", [{"n": 2}])
    payload = json.loads(response)
    assert status(context, 0) == 200 and len(payload["values"]) == 2
    assert all(len(row) == 4 and all(0 <= v <= 1 for v in row) for row in payload["values"])


def test_a_batch_is_split_back_one_response_per_request(serve) -> None:  # type: ignore[no-untyped-def]
    bodies = [
        {"n": 1, "label": 1, "seed": 5},
        {"n": 4, "label": 2, "seed": 5},
        {"n": 2, "label": 1, "seed": 5},
    ]
    responses, context = serve("mnist-cgan", bodies)
    assert [len(images_of(r)) for r in responses] == [1, 4, 2]
    assert all(status(context, i) == 200 for i in range(3))


def test_same_seed_same_image_whatever_else_is_in_the_batch(serve) -> None:  # type: ignore[no-untyped-def]
    (alone,), _ = serve("mnist-cgan", [{"n": 1, "label": 7, "seed": 99}])
    crowded, _ = serve(
        "mnist-cgan", [{"n": 3, "label": 2, "seed": 1}, {"n": 1, "label": 7, "seed": 99}]
    )
    assert json.loads(alone)["images"] == json.loads(crowded[1])["images"]
    other, _ = serve("mnist-cgan", [{"n": 1, "label": 6, "seed": 99}])
    assert json.loads(other[0])["images"] != json.loads(alone)["images"]


BAD = [
    {"n": 0, "label": 1},
    {"n": 1000, "label": 1},
    {"n": 1, "label": 10},
    {"n": "many", "label": 1},
    {"n": 1},
    b"{oops",
    b"[" * 30_000,
    "[]",
]


def test_bad_requests_are_refused_and_do_not_spoil_the_batch(serve) -> None:  # type: ignore[no-untyped-def]
    good = {"n": 2, "label": 3, "seed": 8}
    bodies: list[object] = [good, *BAD, good]
    responses, context = serve("mnist-cgan", bodies)
    assert status(context, 0) == 200 and status(context, len(bodies) - 1) == 200
    assert json.loads(responses[0])["images"] == json.loads(responses[-1])["images"]
    for index in range(1, len(bodies) - 1):
        assert status(context, index) == 400, bodies[index]
        assert context.get_response_content_type(index) == "application/problem+json"
        problem = json.loads(responses[index])
        assert problem["status"] == 400 and problem["detail"]
        unparsed = isinstance(bodies[index], (bytes, str))  # not JSON, or not an object
        assert problem["code"] == ("bad_request" if unparsed else "invalid_request")


def test_a_batch_of_only_bad_requests(serve) -> None:  # type: ignore[no-untyped-def]
    responses, context = serve("mnist-gan", [{"n": 1, "label": 3}, {"n": -1}])
    assert [status(context, i) for i in range(2)] == [400, 400]
    assert "unconditional" in json.loads(responses[0])["fields"]["label"]


def test_grid_answers_one_png(serve) -> None:  # type: ignore[no-untyped-def]
    (response,), context = serve("mnist-cgan", [{"n": 16, "label": 7, "format": "grid"}])
    assert context.get_response_content_type(0) == "image/png"
    assert Image.open(io.BytesIO(response)).size == (8 * 30 + 2, 2 * 30 + 2)


def test_seed_experiments(serve) -> None:  # type: ignore[no-untyped-def]
    morph = {"label": 3, "experiment": {"kind": "interpolate", "seeds": [1, 2], "steps": 12}}
    sums = {"label": 3, "experiment": {"kind": "arithmetic", "seeds": [1, 2]}}
    ends = {"n": 1, "label": 3, "seed": 1}
    (morphed, summed, end), _ = serve("mnist-cgan", [morph, sums, ends])
    frames = json.loads(morphed)["images"]
    assert len(frames) == 12 and frames[0] == json.loads(end)["images"][0]
    assert len(json.loads(summed)["images"]) == 4
    assert json.loads(summed)["images"][0] == frames[0]  # row a is seed 1 itself


def test_model_config_caps_n(serve, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from model_archive.handler import GeneratorHandler
    from tests.model_archive.conftest import make_context, write_artifact

    write_artifact(tmp_path / "capped", "mnist-gan")
    handler = GeneratorHandler()
    handler.initialize(make_context(tmp_path / "capped", max_images=4))
    context = make_context(tmp_path / "capped", requests=2)
    responses = handler.handle([{"body": {"n": 4}}, {"body": {"n": 5}}], context)
    assert status(context, 0) == 200 and status(context, 1) == 400
    assert "1-4" in json.loads(responses[1])["fields"]["n"]


def test_a_cpu_worker_uses_the_threads_its_config_sets(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import torch

    from model_archive.handler import GeneratorHandler
    from tests.model_archive.conftest import make_context, write_artifact

    write_artifact(tmp_path / "threads", "mnist-gan")
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        GeneratorHandler().initialize(make_context(tmp_path / "threads", cpu_threads=3))
        assert torch.get_num_threads() == 3
        GeneratorHandler().initialize(make_context(tmp_path / "threads", cpu_threads=0))
        assert torch.get_num_threads() == 1  # small: one thread
    finally:
        torch.set_num_threads(before)


def test_threads_by_size_one_for_digits_every_core_for_faces() -> None:
    from model_archive.handler import cpu_threads
    from workers.engine.families import get_family

    assert cpu_threads(0, get_family("mnist-cgan").build_generator()) == 1
    assert cpu_threads(0, get_family("celeba-dcgan").build_generator()) is None
    assert cpu_threads(4, get_family("celeba-dcgan").build_generator()) == 4
