"""The loss history, recorded as the book does: every Nth call of each network's training."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class LossHistory:
    record_every: int
    d_loss: list[float] = field(default_factory=list)
    g_loss: list[float] = field(default_factory=list)
    d_calls: int = 0
    g_calls: int = 0
    # Losses still on the device: converted in one go, so CUDA is not synchronised every step.
    _pending_d: list[torch.Tensor] = field(default_factory=list)
    _pending_g: list[torch.Tensor] = field(default_factory=list)

    def record_d(self, loss: torch.Tensor) -> None:
        self.d_calls += 1
        if self.d_calls % self.record_every == 0:
            self._pending_d.append(loss.detach())

    def record_g(self, loss: torch.Tensor) -> None:
        self.g_calls += 1
        if self.g_calls % self.record_every == 0:
            self._pending_g.append(loss.detach())

    def flush(self) -> None:
        """Move pending device losses into the float lists."""
        for pending, target in ((self._pending_d, self.d_loss), (self._pending_g, self.g_loss)):
            if pending:
                target.extend(torch.stack(pending).float().cpu().tolist())
                pending.clear()

    def recent_mean(self, fraction: float = 0.1) -> tuple[float | None, float | None]:
        """Mean D and G loss over the last ``fraction`` of the history."""
        self.flush()
        return _tail_mean(self.d_loss, fraction), _tail_mean(self.g_loss, fraction)

    def to_dict(self) -> dict[str, Any]:
        self.flush()
        return {
            "record_every": self.record_every,
            "d_loss": list(self.d_loss),
            "g_loss": list(self.g_loss),
            "d_calls": self.d_calls,
            "g_calls": self.g_calls,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LossHistory:
        return cls(
            record_every=int(data["record_every"]),
            d_loss=[float(v) for v in data["d_loss"]],
            g_loss=[float(v) for v in data["g_loss"]],
            d_calls=int(data["d_calls"]),
            g_calls=int(data["g_calls"]),
        )

    def counts(self) -> dict[str, int]:
        """Everything but the loss values: what a checkpoint keeps beside the loss files."""
        self.flush()
        return {
            "record_every": self.record_every,
            "d_calls": self.d_calls,
            "g_calls": self.g_calls,
            "d_loss_length": len(self.d_loss),
            "g_loss_length": len(self.g_loss),
        }

    @classmethod
    def from_counts(
        cls, counts: dict[str, int], d_loss: list[float], g_loss: list[float]
    ) -> LossHistory:
        """The history ``counts`` describes, with its loss values read back."""
        return cls(
            record_every=int(counts["record_every"]),
            d_loss=d_loss,
            g_loss=g_loss,
            d_calls=int(counts["d_calls"]),
            g_calls=int(counts["g_calls"]),
        )


def _tail_mean(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    tail = values[-max(1, int(len(values) * fraction)) :]
    return sum(tail) / len(tail)
