from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from model_archive.image_request import GenerateRequest, RequestError, parse_request
from workers.engine.limits import MAX_IMAGES, MAX_SEED, MAX_STEPS


def parse(body: object, classes: int = 10, max_images: int = 64):  # type: ignore[no-untyped-def]
    return parse_request(body, classes, max_images, random.Random(0))


def fields_of(body: object, classes: int = 10) -> dict[str, str]:
    with pytest.raises(RequestError) as caught:
        parse(body, classes)
    return caught.value.fields


def test_images_with_a_seed_use_consecutive_seeds() -> None:
    request = parse({"n": 3, "label": 7, "seed": 40})
    assert request.kind == "images" and request.seeds == [40, 41, 42] and request.label == 7
    assert request.count == 3 and request.response == "json"


def test_without_a_seed_one_is_drawn_and_reported() -> None:
    request = parse({"label": 1})
    assert request.count == 1 and 0 <= request.seeds[0] < 2**31


def test_bodies_arrive_as_dicts_bytes_or_text() -> None:
    assert parse(b'{"n": 2, "label": 0}').count == 2
    assert parse('{"n": 2, "label": 0}').count == 2


def test_experiments() -> None:
    morph = parse({"label": 3, "experiment": {"kind": "interpolate", "seeds": [1, 2], "steps": 12}})
    assert morph.kind == "interpolate" and morph.count == 12 and morph.seeds == [1, 2]
    sums = parse({"experiment": {"kind": "arithmetic", "seeds": [1, 2]}}, classes=0)
    assert sums.kind == "arithmetic" and sums.count == 4 and sums.label is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"n": 0, "label": 1}, "n"),
        ({"n": 65, "label": 1}, "n"),
        ({"n": "3", "label": 1}, "n"),
        ({"n": True, "label": 1}, "n"),
        ({"n": 2.5, "label": 1}, "n"),
        ({"n": 1}, "label"),
        ({"n": 1, "label": 10}, "label"),
        ({"n": 1, "label": -1}, "label"),
        ({"n": 1, "label": "seven"}, "label"),
        ({"n": 1, "label": 1, "seed": -5}, "seed"),
        ({"n": 1, "label": 1, "seed": 2**40}, "seed"),
        ({"n": 1, "label": 1, "format": "gif"}, "format"),
        ({"n": 1, "label": 1, "colour": "red"}, "colour"),
        ({"label": 1, "experiment": {"kind": "warp", "seeds": [1, 2]}}, "experiment.kind"),
        ({"label": 1, "experiment": {"kind": "interpolate", "seeds": [1]}}, "experiment.seeds"),
        (
            {"label": 1, "experiment": {"kind": "interpolate", "seeds": [1, 2], "steps": 1}},
            "experiment.steps",
        ),
        (
            {"label": 1, "experiment": {"kind": "interpolate", "seeds": [1, 2], "steps": 500}},
            "experiment.steps",
        ),
        (
            {"label": 1, "experiment": {"kind": "arithmetic", "seeds": [1, 2], "steps": 3}},
            "experiment.steps",
        ),
        ({"label": 1, "experiment": "interpolate"}, "experiment"),
        ({"n": 2, "label": 1, "experiment": {"kind": "arithmetic", "seeds": [1, 2]}}, "experiment"),
    ],
)
def test_bad_fields_are_named(body: dict, field: str) -> None:
    assert field in fields_of(body)


def test_unconditional_generators_refuse_labels() -> None:
    assert "label" in fields_of({"n": 1, "label": 3}, classes=0)


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", "[1, 2]", 42, None])
def test_malformed_bodies_say_what_is_wrong(body: object) -> None:
    with pytest.raises(RequestError) as caught:
        parse(body)
    assert "JSON" in str(caught.value)


def test_every_problem_is_reported_at_once() -> None:
    fields = fields_of({"n": 0, "label": 99, "format": "gif"})
    assert set(fields) == {"n", "label", "format"}
    problem = RequestError("x", fields).to_problem(400)
    assert problem["status"] == 400 and problem["code"] == "invalid_request"
    assert problem["fields"] == fields and problem["detail"] == "x"


@pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", b"[" * 30_000, "[1, 2]"])
def test_malformed_bodies_are_bad_requests_not_invalid_ones(body: object) -> None:
    with pytest.raises(RequestError) as caught:
        parse(body)
    assert caught.value.code == "bad_request"


def test_the_model_decides_about_labels_and_the_most_images() -> None:
    context = {"num_classes": 3, "class_names": ["cat", "dog", "fox"], "max_images": 4}
    with pytest.raises(ValidationError) as caught:
        GenerateRequest.model_validate({"n": 5}, context=context)
    problems = {".".join(map(str, e["loc"])): e["msg"] for e in caught.value.errors()}
    assert "1-4" in problems["n"] and "0-2 (0=cat, 1=dog, 2=fox)" in problems["label"]
    # without a context only the fixed limits apply: what the gateway documents
    assert GenerateRequest.model_validate({"n": 5}).n == 5
    with pytest.raises(ValidationError):
        GenerateRequest.model_validate({"n": MAX_IMAGES + 1})


def test_the_contract_reads_its_limits_from_one_module() -> None:
    schema = GenerateRequest.model_json_schema()
    seed = schema["$defs"]["Experiment"]["properties"]["seeds"]["items"]
    assert seed["maximum"] == MAX_SEED
    assert schema["$defs"]["Experiment"]["properties"]["steps"]["anyOf"][0]["maximum"] == MAX_STEPS
