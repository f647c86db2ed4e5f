"""One GAN training step, in the book's form (batch 1, three optimiser steps) and batched."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from workers.engine.families import Family
from workers.engine.history import LossHistory
from workers.engine.runtime import Runtime


@dataclass
class GanParts:
    """The networks, their optimisers and the RNG that draws latents and fake labels."""

    family: Family
    generator: nn.Module
    discriminator: nn.Module
    g_optimizer: torch.optim.Optimizer
    d_optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    runtime: Runtime
    noise: torch.Generator
    loss_fn: nn.Module
    # a moving average of the generator's weights (None: off), and how many updates it had
    ema: nn.Module | None = None
    ema_decay: float = 0.0
    ema_updates: int = 0

    @property
    def final_generator(self) -> nn.Module:
        """What is evaluated, drawn and exported: the moving average where there is one."""
        return self.ema if self.ema is not None else self.generator


@dataclass
class StepStats:
    d_real: torch.Tensor  # mean D(x) over the step's real samples
    d_fake: torch.Tensor  # mean D(G(z)) seen by the discriminator step


def sample_latent(parts: GanParts, n: int) -> torch.Tensor:
    """n latent vectors (n, z_dim) of the family's kind: randn, rand or the constant 0.5.

    Drawn on the CPU (``parts.noise`` is a CPU generator), so a seed gives the same run on any
    device and a checkpoint's RNG state resumes anywhere; the copy is a few hundred bytes a row.
    """
    device, z_dim = parts.runtime.device, parts.family.z_dim
    if parts.family.latent == "normal":
        return torch.randn(n, z_dim, generator=parts.noise).to(device)
    if parts.family.latent == "uniform":
        return torch.rand(n, z_dim, generator=parts.noise).to(device)
    return torch.full((n, z_dim), 0.5, device=device)


def sample_labels(parts: GanParts, n: int) -> torch.Tensor | None:
    """Uniformly drawn labels (n,) for a conditional family, else None."""
    classes = parts.family.num_classes
    if classes == 0:
        return None
    return torch.randint(0, classes, (n,), generator=parts.noise).to(parts.runtime.device)


def _optimise(parts: GanParts, optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    optimizer.zero_grad(set_to_none=True)
    parts.scaler.scale(loss).backward()
    parts.scaler.step(optimizer)
    parts.scaler.update()


def update_ema(parts: GanParts) -> None:
    """Move the average toward G after G's step. Early on it follows G closely (the decay warms
    up as (1 + n) / (10 + n)), so the average never holds much of the random start."""
    if parts.ema is None:
        return
    parts.ema_updates += 1
    decay = min(parts.ema_decay, (1 + parts.ema_updates) / (10 + parts.ema_updates))
    with torch.no_grad():
        averaged: list[torch.Tensor] = list(parts.ema.parameters())
        current: list[torch.Tensor] = list(parts.generator.parameters())
        torch._foreach_lerp_(averaged, current, 1.0 - decay)
        for kept, live in zip(parts.ema.buffers(), parts.generator.buffers(), strict=True):
            kept.copy_(live)  # BatchNorm's running statistics: G's own


def _loss(parts: GanParts, output: torch.Tensor, target: float) -> torch.Tensor:
    # Outside autocast and in fp32: BCE is not autocast-safe, and the loss needs the precision.
    output = output.float()
    return parts.loss_fn(output, torch.full_like(output, target))


# ---- book mode: notebook 06-16's loop, one real sample at a time ----------------------------


def book_step(
    parts: GanParts, history: LossHistory, real: torch.Tensor, label: torch.Tensor | None
) -> StepStats:
    """D on the real sample (→1), D on G(seed).detach() (→0), G through D with a new seed (→1)."""
    g, d = parts.generator, parts.discriminator
    with parts.runtime.autocast():
        d_real = d(real, label)
    loss = _loss(parts, d_real, 1.0)
    _optimise(parts, parts.d_optimizer, loss)
    history.record_d(loss)

    fake_label = sample_labels(parts, 1)
    with parts.runtime.autocast():
        d_fake = d(g(sample_latent(parts, 1), fake_label).detach(), fake_label)
    loss = _loss(parts, d_fake, 0.0)
    _optimise(parts, parts.d_optimizer, loss)
    history.record_d(loss)

    g_label = sample_labels(parts, 1)
    with parts.runtime.autocast():
        d_on_g = d(g(sample_latent(parts, 1), g_label), g_label)
    loss = _loss(parts, d_on_g, 1.0)
    _optimise(parts, parts.g_optimizer, loss)  # only G's optimiser steps, as in the book
    update_ema(parts)
    history.record_g(loss)
    return StepStats(d_real.detach().mean(), d_fake.detach().mean())


# ---- batched mode ---------------------------------------------------------------------------


def discriminator_step(
    parts: GanParts,
    history: LossHistory,
    real: torch.Tensor,
    labels: torch.Tensor | None,
    fake: torch.Tensor,
    fake_labels: torch.Tensor | None,
) -> StepStats:
    """One D update on real (→1) and detached fake (→0) samples.

    One forward pass over both when D has no BatchNorm; two otherwise, so that BatchNorm sees a
    real batch and a fake batch as the book's D does.
    """
    batch = real.shape[0]
    fake = fake.detach().to(real.dtype)
    with parts.runtime.autocast():
        if parts.family.joint_discriminator_batch:
            both_labels = None if labels is None else torch.cat([labels, fake_labels])  # type: ignore[list-item]
            scores = parts.discriminator(torch.cat([real, fake]), both_labels)  # (2B, 1)
        else:
            scores = torch.cat(
                [parts.discriminator(real, labels), parts.discriminator(fake, fake_labels)]
            )
    scores = scores.float()
    targets = torch.cat([torch.ones_like(scores[:batch]), torch.zeros_like(scores[batch:])])
    loss = parts.loss_fn(scores, targets)
    _optimise(parts, parts.d_optimizer, loss)
    history.record_d(loss)
    return StepStats(scores[:batch].detach().mean(), scores[batch:].detach().mean())


def generator_step(
    parts: GanParts, history: LossHistory, fake: torch.Tensor, fake_labels: torch.Tensor | None
) -> None:
    """One G update through a frozen D (no gradients for D's weights: less work per sample)."""
    parts.discriminator.requires_grad_(False)
    try:
        with parts.runtime.autocast():
            scores = parts.discriminator(fake, fake_labels)
        loss = _loss(parts, scores, 1.0)
        _optimise(parts, parts.g_optimizer, loss)
    finally:
        parts.discriminator.requires_grad_(True)
    update_ema(parts)
    history.record_g(loss)


def batched_step(
    parts: GanParts, history: LossHistory, real: torch.Tensor, labels: torch.Tensor | None
) -> StepStats:
    """D then G on one mini-batch; G's step reuses the fakes D just saw (one G forward, not two)."""
    batch = real.shape[0]
    fake_labels = sample_labels(parts, batch)
    with parts.runtime.autocast():
        fake = parts.generator(sample_latent(parts, batch), fake_labels)  # (B, *shape)
    stats = discriminator_step(parts, history, real, labels, fake, fake_labels)
    generator_step(parts, history, fake, fake_labels)
    return stats
