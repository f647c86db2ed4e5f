"""The job spec: what a user asks to train. Imports only pydantic, so the gateway can share it.

Every field is bounded; unknown fields are refused. Values left out (``None``) are filled in
by the engine from the family's tuned defaults, and the resolved values are written beside
the outputs.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Family = Literal[
    "pattern-1010",
    "mnist-gan-v1",
    "mnist-gan",
    "mnist-cgan",
    "celeba-gan",
    "celeba-dcgan",
    "celeba-dcgan-gelu",
]
MNIST_FAMILIES: tuple[str, ...] = ("mnist-gan-v1", "mnist-gan", "mnist-cgan")
FACE_FAMILIES: tuple[str, ...] = ("celeba-gan", "celeba-dcgan", "celeba-dcgan-gelu")
CONDITIONAL_FAMILIES: tuple[str, ...] = ("mnist-cgan",)
FAMILIES: tuple[str, ...] = ("pattern-1010", *MNIST_FAMILIES, *FACE_FAMILIES)

BUILTIN_SOURCES: tuple[str, ...] = (
    "builtin:mnist-sample",
    "builtin:pattern-1010",
    "builtin:faces-sample",
)
SOURCE_PATTERN = re.compile(r"^(builtin:[a-z0-9-]+|csv:.+|idx:.+|hdf5:.+)$")
SERVE_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,62}$"
MAX_TIME_LIMIT_S = 30 * 24 * 3600  # the spec's own bound; the service's limit is lower


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatasetSpec(_Strict):
    """Where the real data comes from."""

    source: str = Field(
        default="builtin:mnist-sample",
        max_length=1024,
        description=(
            "'builtin:mnist-sample' (5,000 real digits shipped offline), 'builtin:pattern-1010', "
            "'csv:<path to mnist_train.csv>' (the book's format), "
            "'idx:<folder with train-images-idx3-ubyte>' (torchvision's MNIST layout), "
            "'hdf5:<CelebA HDF5 file>' (the project's or the book's layout) or "
            "'builtin:faces-sample' (100 real faces shipped offline, for trying the face GANs)."
        ),
    )
    test_source: str | None = Field(
        default=None,
        max_length=1024,
        description="Held-out data for evaluation, same forms as 'source'. Default: the source's "
        "own test split (builtin, idx) or the last 10% of a CSV.",
    )
    limit: int | None = Field(
        default=None, ge=1, le=10_000_000, description="Use only the first N training rows."
    )

    @field_validator("source", "test_source")
    @classmethod
    def _known_source(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if "\x00" in value or not SOURCE_PATTERN.match(value):
            raise ValueError(
                "must be 'builtin:mnist-sample', 'builtin:pattern-1010', 'builtin:faces-sample', "
                "'csv:<path>', 'idx:<folder>' or 'hdf5:<path>'"
            )
        if value.startswith("builtin:") and value not in BUILTIN_SOURCES:
            raise ValueError(
                f"unknown built-in dataset; choose one of {', '.join(BUILTIN_SOURCES)}"
            )
        return value


class TrainingSpec(_Strict):
    """How to train. ``None`` means: the family's default for the chosen mode."""

    mode: Literal["book", "batched"] = Field(
        default="batched",
        description="'book': batch 1, index order, the book's loop. 'batched': shuffled "
        "mini-batches with tuned defaults.",
    )
    epochs: int | None = Field(default=None, ge=1, le=1000)
    max_steps: int | None = Field(
        default=None, ge=1, le=100_000_000, description="Stop after this many steps."
    )
    batch_size: int | None = Field(default=None, ge=1, le=8192)
    lr: float | None = Field(default=None, gt=0, le=1.0)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    checkpoint_every: int | None = Field(default=None, ge=1, le=100_000_000)
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        default="auto",
        description="'auto': bf16 autocast in batched mode on CUDA and on CPUs with bf16 "
        "support, fp32 otherwise.",
    )
    device: Literal["auto", "cpu", "cuda"] = "auto"
    preflight: bool = Field(
        default=True, description="Run the book's checks (D alone, G's output) first."
    )
    label_input: Literal["concat", "projection"] | None = Field(
        default=None,
        description="How a conditional discriminator sees the label: 'concat', the book's "
        "one-hot beside the image (notebook 16), or 'projection', an embedding of the label "
        "multiplied with D's features (a projection discriminator). Default: 'projection' in "
        "batched mode, 'concat' in book mode. Conditional models only.",
    )
    ema_decay: float | None = Field(
        default=None,
        ge=0.0,
        lt=1.0,
        description="Keep an exponential moving average of the generator's weights with this "
        "decay per step; the average is what is evaluated, drawn, exported and served. 0: off. "
        "Default: 0.999 in batched mode, off in book mode (the book has none).",
    )
    time_limit_s: int | None = Field(
        default=None,
        ge=60,
        le=MAX_TIME_LIMIT_S,
        description="The most seconds the job may train, over all its attempts; then it stops "
        "with a checkpoint and fails as 'time_limit'. Default: the service's "
        "GANFOUNDRY_DEFAULT_TIME_LIMIT_S; at most its GANFOUNDRY_LONGEST_JOB_S.",
    )

    @model_validator(mode="after")
    def _book_is_one_at_a_time(self) -> TrainingSpec:
        if self.mode == "book" and self.batch_size not in (None, 1):
            raise ValueError(
                "book mode trains on one sample at a time: leave batch_size out (or 1), "
                "or use mode 'batched'"
            )
        return self


class JobSpec(_Strict):
    """One training job."""

    model: Family = Field(description="The GAN family to train.")
    dataset: DatasetSpec | None = Field(
        default=None, description="Default: the family's built-in data."
    )
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    serve_as: str | None = Field(
        default=None,
        pattern=SERVE_NAME_PATTERN,
        description="Name to serve the generator under (lower case, digits, '-').",
    )

    @model_validator(mode="after")
    def _projection_needs_labels(self) -> JobSpec:
        if self.training.label_input is not None and self.model not in CONDITIONAL_FAMILIES:
            raise ValueError(
                f"training.label_input is for conditional models ({', '.join(CONDITIONAL_FAMILIES)})"
                f"; '{self.model}' has no labels: leave it out"
            )
        return self

    @model_validator(mode="after")
    def _dataset_fits_model(self) -> JobSpec:
        source = self.resolved_dataset().source
        faces = source == "builtin:faces-sample" or source.startswith("hdf5:")
        if self.model == "pattern-1010" and source != "builtin:pattern-1010":
            raise ValueError("model 'pattern-1010' trains on dataset 'builtin:pattern-1010' only")
        if self.model in MNIST_FAMILIES and (faces or source == "builtin:pattern-1010"):
            raise ValueError(f"model '{self.model}' needs an MNIST dataset (builtin, csv: or idx:)")
        if self.model in FACE_FAMILIES and not faces:
            raise ValueError(
                f"model '{self.model}' needs faces: 'hdf5:<file>' or 'builtin:faces-sample'"
            )
        return self

    def resolved_dataset(self) -> DatasetSpec:
        """The dataset, with the family's default filled in."""
        if self.dataset is not None:
            return self.dataset
        defaults = {
            "pattern-1010": "builtin:pattern-1010",
            **dict.fromkeys(FACE_FAMILIES, "builtin:faces-sample"),
        }
        return DatasetSpec(source=defaults.get(self.model, "builtin:mnist-sample"))


def field_errors(error: Exception) -> dict[str, str]:
    """Map a pydantic ValidationError to ``{"training.lr": "message"}`` for users."""
    errors = getattr(error, "errors", None)
    if errors is None:
        return {"": str(error)}
    out: dict[str, str] = {}
    for item in errors():
        where = ".".join(str(part) for part in item.get("loc", ())) or "spec"
        out[where] = item.get("msg", "invalid")
    return out
