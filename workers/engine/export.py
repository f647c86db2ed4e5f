"""``generator.pt``: the hand-off from training to serving, rebuilt without the training code."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from workers.engine.families import Family
from workers.engine.generation import ARTIFACT_FORMAT


def artifact_dict(
    generator: nn.Module, family: Family, metrics: dict[str, Any], spec: dict[str, Any]
) -> dict[str, Any]:
    """A plain dict of tensors, numbers, strings and lists: loads with ``weights_only=True``."""
    state = {key: value.detach().cpu().clone() for key, value in generator.state_dict().items()}
    return {
        "format": ARTIFACT_FORMAT,
        "family": family.name,
        "class_name": type(generator).__name__,
        "kwargs": copy.deepcopy(family.generator_kwargs),
        "state_dict": state,
        "z_dim": family.z_dim,
        "num_classes": family.num_classes,
        "class_names": list(family.class_names),
        "output_shape": list(family.sample_shape),
        "latent": family.latent,
        "metrics": metrics,
        "spec": spec,
    }


def export_generator(
    path: Path, generator: nn.Module, family: Family, metrics: dict[str, Any], spec: dict[str, Any]
) -> Path:
    """Write the artifact atomically."""
    temporary = path.with_suffix(".tmp")
    torch.save(artifact_dict(generator, family, metrics, spec), temporary)
    os.replace(temporary, path)
    return path
