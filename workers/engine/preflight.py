"""The book's checks before a GAN trains: D alone can learn, untrained G has the right output."""

from __future__ import annotations

import copy
import math

import torch

from workers.engine.datasets import Split, as_float
from workers.engine.steps import GanParts, sample_labels, sample_latent

D_CHECK_STEPS = 300
D_CHECK_BATCH = 32
D_CHECK_LR = 0.01
D_CHECK_MARGIN = 0.3
D_CHECK_EVERY = 20


class PreflightError(RuntimeError):
    """A pre-flight check failed; the job must not train."""


def check_discriminator_learns(parts: GanParts, data: Split) -> dict[str, float]:
    """Train a copy of D on real data (→1) against uniform noise (→0), as the book does first.

    Judged on real samples it did not train on, every few steps; it stops as soon as D separates
    them. Fails when D cannot: the data is likely not what the model expects.
    """
    held_out = max(1, min(256, len(data) // 5))
    train_part = _subset(data, 0, max(1, len(data) - held_out))
    judge_part = _subset(data, max(0, len(data) - held_out), len(data))
    discriminator = copy.deepcopy(parts.discriminator).train()
    optimizer = torch.optim.Adam(discriminator.parameters(), lr=D_CHECK_LR)
    rng = torch.Generator().manual_seed(0)
    scores = {"d_real": 0.0, "d_noise": 0.0}
    for step in range(1, D_CHECK_STEPS + 1):
        real, labels = _random_batch(parts, train_part, rng)
        loss = parts.loss_fn(*_scores_and_targets(parts, discriminator, real, labels, rng))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % D_CHECK_EVERY == 0 or step in (5, 10):  # early looks: the conv D is slow
            scores = _judge(parts, discriminator, judge_part, rng)
            if scores["d_real"] - scores["d_noise"] >= D_CHECK_MARGIN:
                return scores | {"steps": float(step)}
    raise PreflightError(
        f"pre-flight: the discriminator alone could not tell real data from uniform noise "
        f"(mean D(real) {scores['d_real']:.3f}, D(noise) {scores['d_noise']:.3f} after "
        f"{D_CHECK_STEPS} steps); check that the dataset holds real samples scaled to [0, 1]"
    )


def _scores_and_targets(
    parts: GanParts,
    discriminator: torch.nn.Module,
    real: torch.Tensor,
    labels: torch.Tensor | None,
    rng: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    noise = torch.rand(real.shape, generator=rng).to(real.device)
    if parts.family.joint_discriminator_batch:
        scores = discriminator(torch.cat([real, noise]), _twice(labels))  # (2B, 1)
    else:  # BatchNorm: a real batch and a noise batch, as in training
        scores = torch.cat([discriminator(real, labels), discriminator(noise, labels)])
    targets = torch.cat([torch.ones(len(real), 1), torch.zeros(len(real), 1)]).to(real.device)
    return scores, targets


def _judge(
    parts: GanParts, discriminator: torch.nn.Module, judge_part: Split, rng: torch.Generator
) -> dict[str, float]:
    """Mean D on unseen real samples and on fresh noise, each batch on its own.

    Train mode on purpose: a BatchNorm D that trained for a few steps has no useful running
    statistics yet, and the copy is thrown away afterwards.
    """
    judge_size = 256 if parts.family.digits or not parts.family.is_image else 16
    with torch.no_grad():
        real, labels = _random_batch(parts, judge_part, rng, size=judge_size)
        noise = torch.rand(real.shape, generator=rng).to(real.device)
        return {
            "d_real": float(discriminator(real, labels).mean()),
            "d_noise": float(discriminator(noise, labels).mean()),
        }


def check_generator_output(parts: GanParts) -> dict[str, float]:
    """Untrained G must give finite outputs of the family's shape, inside [0, 1]."""
    generator, family = parts.generator, parts.family
    was_training = generator.training
    generator.eval()
    with torch.no_grad():
        out = generator(sample_latent(parts, 4), sample_labels(parts, 4))
    generator.train(was_training)
    expected = [4, *family.sample_shape]
    if list(out.shape) != expected:
        raise PreflightError(
            f"pre-flight: G's output has shape {list(out.shape)}, expected {expected}"
        )
    low, high = float(out.min()), float(out.max())
    if not (math.isfinite(low) and math.isfinite(high) and low >= 0.0 and high <= 1.0):
        raise PreflightError(
            f"pre-flight: G's output spans [{low}, {high}], expected inside [0, 1]"
        )
    return {"g_min": low, "g_max": high}


def _random_batch(
    parts: GanParts, data: Split, rng: torch.Generator, size: int | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    size = size or min(D_CHECK_BATCH, parts.family.preflight_batch)
    index = torch.randint(0, len(data), (size,), generator=rng)
    device = parts.runtime.device
    conditional = parts.family.num_classes > 0 and data.labels is not None
    labels = data.labels[index].to(device) if conditional else None  # type: ignore[index]
    return as_float(data.images[index].to(device)), labels


def _subset(data: Split, start: int, stop: int) -> Split:
    return Split(data.images[start:stop], None if data.labels is None else data.labels[start:stop])


def _twice(labels: torch.Tensor | None) -> torch.Tensor | None:
    return None if labels is None else torch.cat([labels, labels])
