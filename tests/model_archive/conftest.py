"""Generator artifacts of every family, untrained: serving behaviour does not need training."""

from __future__ import annotations

from pathlib import Path
from unittest.mock import MagicMock

import pytest
import torch
from ts.context import Context, RequestProcessor

from model_archive.handler import GeneratorHandler
from workers.engine.export import export_generator
from workers.engine.families import get_family


def write_artifact(folder: Path, family_name: str, seed: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    family = get_family(family_name)
    torch.manual_seed(seed)
    generator = family.build_generator()
    return export_generator(folder / "generator.pt", generator, family, {}, {"model": family_name})


def make_context(
    model_dir: Path, requests: int = 1, max_images: int = 64, **handler: int
) -> Context:
    context = Context(
        model_name="digits",
        model_dir=str(model_dir),
        manifest={"model": {"modelName": "digits", "serializedFile": "generator.pt"}},
        batch_size=16,
        gpu=None,
        mms_version="test",
        metrics=MagicMock(),
        model_yaml_config={"handler": {"max_images": max_images, **handler}},
    )
    context.request_processor = [RequestProcessor({}) for _ in range(requests)]
    return context


@pytest.fixture
def serve(tmp_path: Path):  # type: ignore[no-untyped-def]
    """serve(family, bodies) → (responses, context): one TorchServe batch through the handler."""
    handlers: dict[str, GeneratorHandler] = {}

    def run(family: str, bodies: list[object]) -> tuple[list[object], Context]:
        if family not in handlers:
            model_dir = tmp_path / family
            write_artifact(model_dir, family)
            handler = GeneratorHandler()
            handler.initialize(make_context(model_dir))
            handlers[family] = handler
        context = make_context(tmp_path / family, requests=len(bodies))
        return handlers[family].handle([{"body": b} for b in bodies], context), context

    return run
