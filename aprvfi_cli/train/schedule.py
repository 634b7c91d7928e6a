"""Learning rate per step: linear warm-up to the peak, then cosine annealing to the floor (paper §4)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch.optim import Optimizer


@dataclass(frozen=True)
class LRSchedule:
    """Each stage restarts it. Attributes: peak and final rates, warm-up and total steps."""

    total_steps: int
    peak_lr: float = 2e-4
    final_lr: float = 2e-5
    warmup_steps: int = 2000

    def lr(self, step: int) -> float:
        """Rate for the 0-based ``step``: (step + 1) / warmup * peak during warm-up, then cosine."""
        warmup = min(self.warmup_steps, max(self.total_steps - 1, 0))
        if step < warmup:
            return self.peak_lr * (step + 1) / warmup
        span = max(self.total_steps - warmup - 1, 1)
        progress = min(max(step - warmup, 0) / span, 1.0)
        return self.final_lr + 0.5 * (self.peak_lr - self.final_lr) * (1 + math.cos(math.pi * progress))


def apply_lr(optimizer: Optimizer, lr: float) -> None:
    """Set every parameter group's rate (the schedule's whole state is the step number)."""
    for group in optimizer.param_groups:
        group["lr"] = lr
