"""Which weights a run keeps: an exponential moving average of the trained weights, and the best
of them by the dev set's paired gain over flow-only.

A few thousand steps of batch 8 leave each update noisy: the last weights of a run were worse on
real footage than weights it had passed through. The average smooths the updates; the best
weights of each stage (``aprvfi-best-stage{n}.pt``) are what a run offers for shipping, and the
next stage starts from them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


def weight_average(model: nn.Module, decay: float) -> AveragedModel | None:
    """An exponential moving average of ``model`` (buffers too), or None when ``decay`` is 0."""
    if not 0.0 <= decay < 1.0:
        raise ValueError(f"weight average decay must be in [0, 1), got {decay}")
    if decay == 0.0:
        return None
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


@dataclass
class BestDev:
    """The best dev gain seen in the current stage (the trainer's progress says which) and how
    many validations have passed since.

    A validation counts only if its worst clip's gain is at least ``worst_clip_floor`` dB: a mean
    bought by losing one kind of footage is not what ships.
    """

    gain: float | None = None
    worst_clip_gain: float | None = None
    step: int | None = None
    stale: int = 0

    def consider(self, *, gain: float, worst_clip_gain: float, step: int, worst_clip_floor: float) -> bool:
        """Record one validation; True when it is the new best."""
        if worst_clip_gain >= worst_clip_floor and (self.gain is None or gain > self.gain):
            self.gain, self.worst_clip_gain, self.step, self.stale = gain, worst_clip_gain, step, 0
            return True
        self.stale += 1
        return False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> BestDev:
        # only the known fields: checkpoints of 2026-11-30 also stored the stage
        return cls(**{f.name: values[f.name] for f in fields(cls) if f.name in values})


def best_weights_path(run_dir: str | Path, stage: int) -> Path:
    return Path(run_dir) / f"aprvfi-best-stage{stage}.pt"
