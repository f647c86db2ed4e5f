"""The book's generators and discriminators, rebuilt from plain constructor arguments.

This module is the architecture module packed into TorchServe archives: it imports torch only,
so a generator can be rebuilt from ``generator.pt`` without the training code.
Unlike the book's classes these do not override ``nn.Module.train``; ``eval()`` works.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

LATENT_KINDS = ("normal", "uniform", "constant")


def _activation(name: str, slope: float) -> nn.Module:
    if name == "sigmoid":
        return nn.Sigmoid()
    if name == "leaky_relu":
        return nn.LeakyReLU(slope)
    if name == "gelu":
        return nn.GELU()
    raise ValueError(f"unknown activation {name!r}")


class ScoreSigmoid(nn.Sigmoid):
    """D's last layer: a Sigmoid computed in fp32 even under autocast.

    In fp16 or bf16 a confident score rounds to exactly 0 or 1, where BCE's gradient blows up
    (fp16: inf, skipped steps) or vanishes (bf16). No parameters: the book's networks unchanged.
    """

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(input.float())


def _hidden_block(
    in_features: int, hidden: int, activation: str, slope: float, layer_norm: bool
) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Linear(in_features, hidden), _activation(activation, slope)]
    if layer_norm:
        layers.append(nn.LayerNorm(hidden))
    return layers


class MLPGenerator(nn.Module):
    """Linear → activation (→ LayerNorm) → Linear → Sigmoid, optionally conditioned on a label.

    ``forward(z, labels)``: z (B, z_dim), labels (B,) int → images (B, *output_shape) in [0, 1].
    """

    def __init__(
        self,
        z_dim: int,
        hidden: int,
        output_shape: list[int],
        activation: str = "leaky_relu",
        slope: float = 0.02,
        layer_norm: bool = True,
        num_classes: int = 0,
        latent: str = "normal",
    ) -> None:
        super().__init__()
        if latent not in LATENT_KINDS:
            raise ValueError(f"latent must be one of {LATENT_KINDS}")
        self.z_dim = z_dim
        self.num_classes = num_classes
        self.output_shape = tuple(output_shape)
        self.latent = latent
        out_features = math.prod(output_shape)
        self.model = nn.Sequential(
            *_hidden_block(z_dim + num_classes, hidden, activation, slope, layer_norm),
            nn.Linear(hidden, out_features),
            nn.Sigmoid(),
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        inputs = _with_label(z, labels, self.num_classes)  # (B, z_dim + classes)
        return self.model(inputs).view(z.shape[0], *self.output_shape)


class MLPDiscriminator(nn.Module):
    """Flatten → Linear → activation (→ LayerNorm) → Linear(·, 1) → Sigmoid."""

    def __init__(
        self,
        input_shape: list[int],
        hidden: int,
        activation: str = "leaky_relu",
        slope: float = 0.02,
        layer_norm: bool = True,
        num_classes: int = 0,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.input_shape = tuple(input_shape)
        in_features = math.prod(input_shape)
        self.model = nn.Sequential(
            *_hidden_block(in_features + num_classes, hidden, activation, slope, layer_norm),
            nn.Linear(hidden, 1),
            ScoreSigmoid(),
        )

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        flat = x.reshape(x.shape[0], -1)  # (B, prod(input_shape))
        return self.model(_with_label(flat, labels, self.num_classes))  # (B, 1)


class ProjectionMLPDiscriminator(nn.Module):
    """The book's MLP D with the label projected instead of concatenated (Miyato and Koyama's
    projection discriminator): score = w·h + embed(label)·h on D's features h, then Sigmoid.

    Same constructor as ``MLPDiscriminator``; it needs ``num_classes``.
    """

    def __init__(
        self,
        input_shape: list[int],
        hidden: int,
        activation: str = "leaky_relu",
        slope: float = 0.02,
        layer_norm: bool = True,
        num_classes: int = 0,
    ) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError("a projection discriminator is for conditional models")
        self.num_classes = num_classes
        in_features = math.prod(input_shape)
        self.features = nn.Sequential(
            *_hidden_block(in_features, hidden, activation, slope, layer_norm)
        )
        self.score = nn.Linear(hidden, 1)
        self.embed = nn.Embedding(num_classes, hidden)
        nn.init.normal_(self.embed.weight, 0.0, 0.02)  # starts as the unconditional D
        self.sigmoid = ScoreSigmoid()

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if labels is None:
            raise ValueError(f"this network is conditional: pass labels in [0, {self.num_classes})")
        features = self.features(x.reshape(x.shape[0], -1))  # (B, hidden)
        projected = (self.embed(labels.long()) * features).sum(1, keepdim=True)  # (B, 1)
        return self.sigmoid(self.score(features) + projected)  # (B, 1)


def _with_label(x: torch.Tensor, labels: torch.Tensor | None, num_classes: int) -> torch.Tensor:
    """Append a one-hot label to each row when the network is conditional."""
    if num_classes == 0:
        if labels is not None:
            raise ValueError("this network is unconditional: pass no labels")
        return x
    if labels is None:
        raise ValueError(f"this network is conditional: pass labels in [0, {num_classes})")
    one_hot = nn.functional.one_hot(labels.long(), num_classes).to(x.dtype)  # (B, classes)
    return torch.cat([x, one_hot], dim=1)


class ConvDiscriminator(nn.Module):
    """The book's convolutional D for 128x128 faces: 128→61→27→10, flatten 300, Linear, Sigmoid."""

    def __init__(
        self, activation: str = "leaky_relu", slope: float = 0.2, channels: int = 256
    ) -> None:
        super().__init__()
        self.num_classes = 0
        self.input_shape = (3, 128, 128)
        self.model = nn.Sequential(
            nn.Conv2d(3, channels, kernel_size=8, stride=2),  # (B, 256, 61, 61)
            nn.BatchNorm2d(channels),
            _activation(activation, slope),
            nn.Conv2d(channels, channels, kernel_size=8, stride=2),  # (B, 256, 27, 27)
            nn.BatchNorm2d(channels),
            _activation(activation, slope),
            nn.Conv2d(channels, 3, kernel_size=8, stride=2),  # (B, 3, 10, 10)
            _activation(activation, slope),
            nn.Flatten(),  # (B, 300)
            nn.Linear(300, 1),
            ScoreSigmoid(),
        )

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if labels is not None:
            raise ValueError("this network is unconditional: pass no labels")
        return self.model(x)  # (B, 1)


class ConvGenerator(nn.Module):
    """The book's convolutional G: Linear to 3x11x11, then 11→28→62→128 by transposed convs."""

    def __init__(
        self,
        z_dim: int = 100,
        activation: str = "leaky_relu",
        slope: float = 0.2,
        channels: int = 256,
    ) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.num_classes = 0
        self.output_shape = (3, 128, 128)
        self.latent = "normal"
        self.project = nn.Sequential(nn.Linear(z_dim, 3 * 11 * 11), _activation(activation, slope))
        self.model = nn.Sequential(
            nn.ConvTranspose2d(3, channels, kernel_size=8, stride=2),  # (B, 256, 28, 28)
            nn.BatchNorm2d(channels),
            _activation(activation, slope),
            nn.ConvTranspose2d(channels, channels, kernel_size=8, stride=2),  # (B, 256, 62, 62)
            nn.BatchNorm2d(channels),
            _activation(activation, slope),
            nn.ConvTranspose2d(channels, 3, kernel_size=8, stride=2, padding=1),  # (B, 3, 128, 128)
            nn.BatchNorm2d(3),
            nn.Sigmoid(),
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if labels is not None:
            raise ValueError("this network is unconditional: pass no labels")
        return self.model(self.project(z).view(-1, 3, 11, 11))


NETWORKS: dict[str, type[nn.Module]] = {
    "MLPGenerator": MLPGenerator,
    "MLPDiscriminator": MLPDiscriminator,
    "ProjectionMLPDiscriminator": ProjectionMLPDiscriminator,
    "ConvGenerator": ConvGenerator,
    "ConvDiscriminator": ConvDiscriminator,
}


def build(class_name: str, kwargs: dict[str, Any]) -> nn.Module:
    """Rebuild a network from its class name and constructor arguments (as in ``generator.pt``)."""
    if class_name not in NETWORKS:
        raise ValueError(f"unknown network class {class_name!r}; known: {sorted(NETWORKS)}")
    return NETWORKS[class_name](**kwargs)


def latents(
    seeds: list[int], z_dim: int, kind: str, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """One latent vector per seed, each from its own RNG, so a seed names an image.

    Returns (len(seeds), z_dim). 'constant' is the 1010 GAN's fixed 0.5 input.
    """
    rows = []
    for seed in seeds:
        rng = torch.Generator().manual_seed(int(seed))
        if kind == "normal":
            rows.append(torch.randn(z_dim, generator=rng))
        elif kind == "uniform":
            rows.append(torch.rand(z_dim, generator=rng))
        elif kind == "constant":
            rows.append(torch.full((z_dim,), 0.5))
        else:
            raise ValueError(f"unknown latent kind {kind!r}")
    if not rows:
        return torch.empty(0, z_dim, device=device)
    return torch.stack(rows).to(device)
