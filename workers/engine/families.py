"""The GAN families of the book: networks, losses, optimisers and tuned batched defaults."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from torch import nn

from workers.engine.networks import build

MNIST_SHAPE = [1, 28, 28]
DIGITS = tuple(str(d) for d in range(10))


@dataclass(frozen=True)
class OptimizerChoice:
    kind: Literal["sgd", "adam"]
    lr: float
    betas: tuple[float, float] = (0.9, 0.999)


@dataclass(frozen=True)
class Family:
    """Everything the engine needs to know about one GAN of the book."""

    name: str
    notebook: str
    generator_kwargs: dict[str, Any]
    discriminator_kwargs: dict[str, Any]
    loss: Literal["mse", "bce"]
    book_optimizer: OptimizerChoice
    book_epochs: int
    batched_optimizer: OptimizerChoice
    batched_batch_size: int
    batched_epochs: int
    class_names: tuple[str, ...] = ()
    sample_shape: list[int] = field(default_factory=lambda: list(MNIST_SHAPE))
    generator_class: str = "MLPGenerator"
    discriminator_class: str = "MLPDiscriminator"
    # BatchNorm in D: real and fake batches go through D separately, as in the book
    joint_discriminator_batch: bool = True
    preflight_batch: int = 32  # the conv D is costly on a CPU: its D-alone check uses less

    @property
    def num_classes(self) -> int:
        return int(self.generator_kwargs.get("num_classes", 0))

    @property
    def z_dim(self) -> int:
        return int(self.generator_kwargs["z_dim"])

    @property
    def latent(self) -> str:
        return str(self.generator_kwargs.get("latent", "normal"))

    @property
    def ideal_loss(self) -> float:
        """Loss when D answers 0.5 for everything: MSE 0.25, BCE ln 2."""
        return 0.25 if self.loss == "mse" else math.log(2)

    @property
    def is_image(self) -> bool:
        return len(self.sample_shape) == 3

    @property
    def conv(self) -> bool:
        return self.generator_class.startswith("Conv")

    @property
    def digits(self) -> bool:
        """MNIST-shaped: the evaluator (a digit classifier) can judge it."""
        return self.sample_shape == MNIST_SHAPE

    def build_generator(self) -> nn.Module:
        return build(self.generator_class, self.generator_kwargs)

    def build_discriminator(self, label_input: str = "concat") -> nn.Module:
        """The book's D; ``label_input`` 'projection': the label projected on D's features."""
        if label_input == "projection":
            return build("ProjectionMLPDiscriminator", self.discriminator_kwargs)
        return build(self.discriminator_class, self.discriminator_kwargs)

    def loss_fn(self) -> nn.Module:
        return nn.MSELoss() if self.loss == "mse" else nn.BCELoss()


def _mnist_mlp(activation: str, layer_norm: bool, z_dim: int, classes: int, latent: str) -> tuple:
    generator = {
        "z_dim": z_dim,
        "hidden": 200,
        "output_shape": MNIST_SHAPE,
        "activation": activation,
        "slope": 0.02,
        "layer_norm": layer_norm,
        "num_classes": classes,
        "latent": latent,
    }
    discriminator = {
        "input_shape": MNIST_SHAPE,
        "hidden": 200,
        "activation": activation,
        "slope": 0.02,
        "layer_norm": layer_norm,
        "num_classes": classes,
    }
    return generator, discriminator


_V1_G, _V1_D = _mnist_mlp("sigmoid", False, 1, 0, "uniform")
_GAN_G, _GAN_D = _mnist_mlp("leaky_relu", True, 100, 0, "normal")
_CGAN_G, _CGAN_D = _mnist_mlp("leaky_relu", True, 100, 10, "normal")

FAMILIES: dict[str, Family] = {
    "pattern-1010": Family(
        name="pattern-1010",
        notebook="06",
        generator_kwargs={
            "z_dim": 1,
            "hidden": 3,
            "output_shape": [4],
            "activation": "sigmoid",
            "layer_norm": False,
            "latent": "constant",
        },
        discriminator_kwargs={
            "input_shape": [4],
            "hidden": 3,
            "activation": "sigmoid",
            "layer_norm": False,
        },
        loss="mse",
        book_optimizer=OptimizerChoice("sgd", 0.01),
        book_epochs=1,
        batched_optimizer=OptimizerChoice("sgd", 0.3),
        batched_batch_size=32,
        batched_epochs=10,
        sample_shape=[4],
    ),
    "mnist-gan-v1": Family(
        name="mnist-gan-v1",
        notebook="07",
        generator_kwargs=_V1_G,
        discriminator_kwargs=_V1_D,
        loss="mse",
        book_optimizer=OptimizerChoice("sgd", 0.01),
        book_epochs=1,
        batched_optimizer=OptimizerChoice("adam", 1e-3, (0.5, 0.999)),
        batched_batch_size=128,
        batched_epochs=20,
    ),
    "mnist-gan": Family(
        name="mnist-gan",
        notebook="09",
        generator_kwargs=_GAN_G,
        discriminator_kwargs=_GAN_D,
        loss="bce",
        book_optimizer=OptimizerChoice("adam", 1e-4),
        book_epochs=4,
        batched_optimizer=OptimizerChoice("adam", 1e-3, (0.5, 0.999)),
        batched_batch_size=512,
        batched_epochs=60,
    ),
    "mnist-cgan": Family(
        name="mnist-cgan",
        notebook="16",
        generator_kwargs=_CGAN_G,
        discriminator_kwargs=_CGAN_D,
        loss="bce",
        book_optimizer=OptimizerChoice("adam", 1e-4),
        book_epochs=12,
        batched_optimizer=OptimizerChoice("adam", 1e-3, (0.5, 0.999)),
        batched_batch_size=128,
        batched_epochs=100,
        class_names=DIGITS,
    ),
}


CELEBA_SHAPE = [3, 218, 178]
CROPPED_SHAPE = [3, 128, 128]


def _dcgan(name: str, notebook: str, activation: str) -> Family:
    return Family(
        name=name,
        notebook=notebook,
        generator_kwargs={"z_dim": 100, "activation": activation, "slope": 0.2},
        discriminator_kwargs={"activation": activation, "slope": 0.2},
        loss="bce",
        book_optimizer=OptimizerChoice("adam", 1e-4),
        book_epochs=1,
        batched_optimizer=OptimizerChoice("adam", 2e-4, (0.5, 0.999)),
        batched_batch_size=32,
        batched_epochs=4,
        sample_shape=list(CROPPED_SHAPE),
        generator_class="ConvGenerator",
        discriminator_class="ConvDiscriminator",
        joint_discriminator_batch=False,
        preflight_batch=4,
    )


FAMILIES.update(
    {
        "celeba-gan": Family(
            name="celeba-gan",
            notebook="12",
            generator_kwargs={
                "z_dim": 100,
                "hidden": 300,
                "output_shape": CELEBA_SHAPE,
                "activation": "leaky_relu",
                "slope": 0.01,
                "layer_norm": True,
            },
            discriminator_kwargs={
                "input_shape": CELEBA_SHAPE,
                "hidden": 100,
                "activation": "leaky_relu",
                "slope": 0.01,
                "layer_norm": True,
            },
            loss="bce",
            book_optimizer=OptimizerChoice("adam", 1e-4),
            book_epochs=1,
            batched_optimizer=OptimizerChoice("adam", 2e-4, (0.5, 0.999)),
            batched_batch_size=64,
            batched_epochs=4,
            sample_shape=list(CELEBA_SHAPE),
            preflight_batch=8,
        ),
        "celeba-dcgan": _dcgan("celeba-dcgan", "14", "leaky_relu"),
        "celeba-dcgan-gelu": _dcgan("celeba-dcgan-gelu", "15", "gelu"),
    }
)


def get_family(name: str) -> Family:
    """The family called ``name``, or a ValueError that lists the known ones."""
    if name not in FAMILIES:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(FAMILIES)}")
    return FAMILIES[name]
