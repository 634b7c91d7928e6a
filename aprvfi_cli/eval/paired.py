"""A method's gain over a floor, paired per triplet, with a 95% interval.

Every triplet is scored by both methods, so the per-triplet differences carry far less noise than
the two means apart: this is what tells +0.1 dB from noise.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class PairedGain:
    """Mean per-triplet PSNR gain (dB) of a method over a floor, with its 95% interval.

    The interval is the normal approximation, mean +- 1.96 s / sqrt(n); with one triplet it is infinite.
    """

    mean: float
    low: float
    high: float
    count: int

    @classmethod
    def of(cls, method: np.ndarray, floor: np.ndarray) -> PairedGain:
        """From per-triplet PSNRs (dB) of the method and of the floor, in the same order (inf dropped)."""
        gains = np.asarray(method, dtype=np.float64) - np.asarray(floor, dtype=np.float64)
        gains = gains[np.isfinite(gains)]
        if gains.size == 0:
            return cls(mean=math.nan, low=math.nan, high=math.nan, count=0)
        mean = float(gains.mean())
        half = 1.96 * float(gains.std(ddof=1)) / math.sqrt(gains.size) if gains.size > 1 else math.inf
        return cls(mean=mean, low=mean - half, high=mean + half, count=int(gains.size))

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.mean:+.3f} [{self.low:+.3f}, {self.high:+.3f}]"
