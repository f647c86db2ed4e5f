"""TorchServe handler for every generator family, conditional or not.

Packed into each archive with the request contract (``image_request.py``, ``limits.py``,
``problems.py``), ``networks.py`` and ``generation.py``; it rebuilds the generator from
``generator.pt`` (weights_only) and never imports the training code. All requests of a TorchServe
batch run as one forward pass and are split back, one response each; a bad request gets a 400 with
a problem body (RFC 9457, as the gateway's) and never spoils the others.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import sys
from typing import Any

import torch
from ts.torch_handler.base_handler import BaseHandler

if __package__:
    from model_archive.image_request import ImagePlan, RequestError, parse_request
    from model_archive.problems import MEDIA_TYPE
    from workers.engine.generation import (
        generate_from_latents,
        grid,
        interpolate,
        load_artifact,
        seed_arithmetic,
        seed_latents,
        to_png,
    )
    from workers.engine.limits import MAX_IMAGES
else:  # inside the archive: the packed modules lie beside this file
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from generation import (  # type: ignore[no-redef]
        generate_from_latents,
        grid,
        interpolate,
        load_artifact,
        seed_arithmetic,
        seed_latents,
        to_png,
    )
    from image_request import ImagePlan, RequestError, parse_request  # type: ignore[no-redef]
    from limits import MAX_IMAGES  # type: ignore[no-redef,attr-defined]
    from problems import MEDIA_TYPE  # type: ignore[no-redef]

logger = logging.getLogger(__name__)
ARTIFACT = "generator.pt"
SMALL_GENERATOR = 2_000_000  # parameters: the digits' and the 1010 pattern's, not the faces'


def cpu_threads(configured: int, generator: torch.nn.Module) -> int | None:
    """Torch threads for a CPU worker: as configured, or by the generator's size. A small one
    draws a batch in well under a millisecond per image, where a pool of threads spins more
    than it computes; a large one (faces) keeps torch's default, one per core (None)."""
    if configured > 0:
        return configured
    size = sum(parameter.numel() for parameter in generator.parameters())
    return 1 if size < SMALL_GENERATOR else None


class GeneratorHandler(BaseHandler):
    """Images by seed and label, grids, the 1010 generator's four values, seed experiments."""

    def initialize(self, context: Any) -> None:
        properties = context.system_properties
        gpu = properties.get("gpu_id")
        use_cuda = torch.cuda.is_available() and gpu is not None
        self.device = torch.device(f"cuda:{gpu}" if use_cuda else "cpu")
        # no TF32: a seed gives the image it gives on the CPU, to float precision
        torch.backends.cudnn.conv.fp32_precision = "ieee"  # type: ignore[attr-defined]
        self.manifest = context.manifest
        self.generator, self.meta = load_artifact(
            os.path.join(properties["model_dir"], ARTIFACT), self.device
        )
        config = (getattr(context, "model_yaml_config", None) or {}).get("handler") or {}
        self.max_images = int(config.get("max_images", MAX_IMAGES))
        threads = cpu_threads(int(config.get("cpu_threads", 0)), self.generator)
        if self.device.type == "cpu" and threads:
            torch.set_num_threads(threads)  # the whole backend process: it serves this model only
        self.num_classes = int(self.meta["num_classes"])
        self.initialized = True
        logger.info("loaded %s on %s", self.meta["family"], self.device)

    def preprocess(self, data: list[dict[str, Any]]) -> list[ImagePlan | RequestError]:
        """Parse every request of the batch; a bad one becomes its error, the rest go on."""
        parsed: list[ImagePlan | RequestError] = []
        for row in data:
            body = row.get("body", row.get("data"))
            try:
                parsed.append(
                    parse_request(
                        body,
                        self.num_classes,
                        self.max_images,
                        class_names=self.meta.get("class_names"),
                    )
                )
            except RequestError as error:
                parsed.append(error)
        self._requests = parsed  # postprocess needs each request's answer format
        return parsed

    def inference(
        self, requests: list[ImagePlan | RequestError], *args: Any, **kwargs: Any
    ) -> list[Any]:
        """One forward pass for all good requests; returns images (count, ...) or the error."""
        good = [r for r in requests if isinstance(r, ImagePlan)]
        if not good:
            return list(requests)
        latents = torch.cat([self._latents(r) for r in good])  # (total, z_dim)
        labels = None
        if self.num_classes:
            labels = [int(r.label) for r in good for _ in range(r.count)]  # type: ignore[arg-type]
        images = iter(
            generate_from_latents(self.generator, latents, labels).split([r.count for r in good])
        )
        return [next(images) if isinstance(r, ImagePlan) else r for r in requests]

    def postprocess(self, outputs: list[Any]) -> list[Any]:
        """JSON (PNGs in base64 with their seeds, or the 1010 values) or one grid PNG per request."""
        responses: list[Any] = []
        for index, (request, output) in enumerate(zip(self._requests, outputs, strict=True)):
            if isinstance(request, RequestError):  # inference passed it through as its output
                self.context.set_response_status(400, str(request), index)
                self.context.set_response_content_type(index, MEDIA_TYPE)
                responses.append(json.dumps(request.to_problem(400)))
            elif request.response == "grid" and len(self.meta["output_shape"]) == 3:
                self.context.set_response_content_type(index, "image/png")
                responses.append(to_png(grid(output, request.columns)))
            else:
                self.context.set_response_content_type(index, "application/json")
                responses.append(json.dumps(self._as_json(request, output)))
        return responses

    def _latents(self, request: ImagePlan) -> torch.Tensor:
        if request.kind == "images":
            return seed_latents(self.generator, request.seeds)
        start, end = seed_latents(self.generator, request.seeds)
        if request.kind == "interpolate":
            return interpolate(start, end, request.steps)
        return seed_arithmetic(start, end)

    def _as_json(self, request: ImagePlan, output: torch.Tensor) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "model": self.manifest["model"]["modelName"] if self.manifest else self.meta["family"],
            "family": self.meta["family"],
            "kind": request.kind,
            "seeds": request.seeds,
            "label": request.label,
            "shape": self.meta["output_shape"],
        }
        if len(self.meta["output_shape"]) != 3:  # the 1010 generator: its four values
            answer["values"] = [[round(v, 6) for v in row] for row in output.tolist()]
            return answer
        answer["images"] = [base64.b64encode(to_png(image)).decode("ascii") for image in output]
        return answer
