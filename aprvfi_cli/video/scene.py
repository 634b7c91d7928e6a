"""Scene-cut and duplicate-frame detection on small luma thumbnails.

A cut must not be interpolated across (the in-between frames would be a cross-fade of two
shots); a duplicated frame must be dropped from the timeline, or the motion freezes for one
interval and then jumps (stutter).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# thumbnails this many px wide at most: cheap, and blind to sensor noise and small motion
_THUMB_WIDTH = 64
# below this the median of recent differences is noise (static shots)
_MEDIAN_FLOOR = 0.005


@dataclass(frozen=True)
class SceneSettings:
    """Thresholds, both on luma in [0, 1].

    Attributes:
        cut_threshold: mean absolute difference of the thumbnails above which two frames may
            be in different shots; 0 or less disables cut detection.
        cut_ratio: ... and the difference must also exceed this many times the median of the
            recent differences (fast motion raises every difference, a cut only one).
        duplicate_threshold: mean absolute difference of the full-resolution luma below
            which a frame repeats the previous one (0.3/255); negative
            disables duplicate removal.
        duplicate_block_threshold: ... and no block (>= 8 px, at most 64 across) may differ
            by more than this mean (re-encoded repeats stay under 2/255 in bigbuckbunny.mp4).
    """

    cut_threshold: float = 0.1
    cut_ratio: float = 6.0
    duplicate_threshold: float = 0.3 / 255
    duplicate_block_threshold: float = 3.0 / 255


def luma(image: np.ndarray) -> np.ndarray:
    """(H, W) float32 luma in [0, 1] of an (H, W, 3) uint8/uint16 RGB image (BT.601 weights)."""
    scale = 65535.0 if image.dtype == np.uint16 else 255.0
    rgb = image.astype(np.float32) / scale
    return rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def thumbnail(y: np.ndarray) -> np.ndarray:
    """Box-downscale luma by an integer factor so it is at most 64 px wide."""
    step = max(1, -(-y.shape[1] // _THUMB_WIDTH))
    h, w = (y.shape[0] // step) * step, (y.shape[1] // step) * step
    if step == 1 or h == 0 or w == 0:
        return y
    return y[:h, :w].reshape(h // step, step, w // step, step).mean(axis=(1, 3))


@dataclass(frozen=True)
class FrameSignature:
    """What the detector keeps of a frame: full luma (duplicates) and a thumbnail (cuts)."""

    luma: np.ndarray
    thumb: np.ndarray

    @classmethod
    def of(cls, image: np.ndarray) -> FrameSignature:
        y = luma(image)
        return cls(luma=y, thumb=thumbnail(y))


def block_means(y: np.ndarray, *, min_block: int = 8) -> np.ndarray:
    """Means over square blocks of at least ``min_block`` px (at most 64 blocks across)."""
    step = max(min_block, -(-y.shape[1] // _THUMB_WIDTH))
    h, w = (y.shape[0] // step) * step, (y.shape[1] // step) * step
    if h == 0 or w == 0:
        return np.array([float(y.mean())])
    return y[:h, :w].reshape(h // step, step, w // step, step).mean(axis=(1, 3))


def is_duplicate(a: FrameSignature, b: FrameSignature, settings: SceneSettings) -> bool:
    """True if ``b`` repeats ``a``: tiny mean difference and no block that changed.

    The block test keeps small moving objects: a coin moving on a still table changes the
    whole-frame mean by less than 0.3/255 (motion.mov), but its blocks by 10-30/255.
    """
    if settings.duplicate_threshold < 0:
        return False
    diff = np.abs(a.luma - b.luma)
    if float(diff.mean()) > settings.duplicate_threshold:
        return False
    return float(block_means(diff).max()) <= settings.duplicate_block_threshold


def cut_score(a: FrameSignature, b: FrameSignature) -> float:
    """Mean absolute thumbnail difference in [0, 1]."""
    return float(np.abs(a.thumb - b.thumb).mean())


class CutDetector:
    """Cut detection with a short memory of recent differences (see :class:`SceneSettings`)."""

    def __init__(self, settings: SceneSettings, *, history: int = 25) -> None:
        self.settings = settings
        self.history = history
        self.scores: list[float] = []

    def __call__(self, a: FrameSignature, b: FrameSignature) -> bool:
        score = cut_score(a, b)
        recent = self.scores[-self.history :]
        self.scores = [*recent, score]
        if self.settings.cut_threshold <= 0 or score <= self.settings.cut_threshold:
            return False
        typical = max(float(np.median(recent)) if recent else 0.0, _MEDIAN_FLOOR)
        return score > self.settings.cut_ratio * typical
