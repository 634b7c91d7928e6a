"""Real triplets from video clips: (f[k], f[k+g], f[k+2g]) with f[k+g] the truth.

Triplets that cross a shot cut or hold a duplicated frame are dropped: a cut has no true
middle frame, and a duplicate makes the time spacing uneven (the middle is not at t = 0.5).
High-frame-rate clips also give wider gaps g (larger motion from the same footage).
Both the training data (:mod:`.sources`) and the evaluation of a clip (:mod:`aprvfi_cli.eval.sets`)
use :func:`plan_triplets`; they differ in which gaps and starts they ask for.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np

from aprvfi_cli.data.decode import clip_rate, iter_frames
from aprvfi_cli.video.scene import FrameSignature, SceneSettings, cut_score, is_duplicate

T = TypeVar("T")


@dataclass(frozen=True)
class TripletRules:
    """How a clip's consecutive frames are judged.

    Attributes:
        cut_factor: a step whose thumbnail difference exceeds this many times the clip's
            median step is a shot cut (5x).
        cut_floor: ... but only if it also exceeds this absolute luma difference in [0, 1]
            (a static clip's median is ~0, which would make every tiny change a cut).
        duplicate_threshold: mean absolute full-resolution luma difference (in [0, 1]) under
            which a frame repeats the previous one.
        high_fps: clips at or above this rate (frames/s) also give gaps 2 and 4.
    """

    cut_factor: float = 5.0
    cut_floor: float = 0.02
    duplicate_threshold: float = 0.3 / 255
    high_fps: float = 50.0


@dataclass(frozen=True)
class ClipSteps:
    """Per consecutive-frame step of a clip: is it a cut, is the later frame a duplicate."""

    cuts: np.ndarray  # (N-1,) bool
    duplicates: np.ndarray  # (N-1,) bool
    fps: float
    width: int
    height: int

    @property
    def frames(self) -> int:
        return len(self.cuts) + 1


def judge_steps(
    signatures: list[FrameSignature], *, fps: float, size: tuple[int, int], rules: TripletRules
) -> ClipSteps:
    """Classify every step between consecutive frames (see :class:`TripletRules`)."""
    scores = np.array([cut_score(a, b) for a, b in zip(signatures, signatures[1:], strict=False)])
    settings = SceneSettings(duplicate_threshold=rules.duplicate_threshold)
    duplicates = np.array(
        [is_duplicate(a, b, settings) for a, b in zip(signatures, signatures[1:], strict=False)], dtype=bool
    )
    moving = scores[~duplicates] if (~duplicates).any() else scores
    median = float(np.median(moving)) if moving.size else 0.0
    cuts = scores > max(rules.cut_factor * median, rules.cut_floor)
    return ClipSteps(cuts=cuts, duplicates=duplicates, fps=fps, width=size[1], height=size[0])


def scan_clip(path: str | Path, *, rules: TripletRules | None = None) -> ClipSteps:
    """Decode ``path`` once and judge its steps."""
    rules = rules or TripletRules()
    signatures: list[FrameSignature] = []
    size = (0, 0)
    fps = clip_rate(path)
    for image in iter_frames(path):
        size = image.shape[:2]
        signatures.append(FrameSignature.of(image))
    if len(signatures) < 3:
        return ClipSteps(np.zeros(0, bool), np.zeros(0, bool), fps, size[1], size[0])
    return judge_steps(signatures, fps=fps, size=size, rules=rules)


def plan_triplets(steps: ClipSteps, *, gaps: tuple[int, ...] = (1,), stride: int = 1) -> list[tuple[int, int, int]]:
    """Frame indices (a, b, c) of usable triplets, b - a = c - b = g for each gap g.

    Args:
        steps: from :func:`scan_clip`.
        gaps: frame gaps between an input and the truth.
        stride: start every ``stride`` frames (2 with gap 1 = the f[2k], f[2k+1], f[2k+2] protocol).
    """
    bad = steps.cuts | steps.duplicates  # (N-1,): step i is frames i -> i+1
    # prefix sums make "any bad step in [a, c)" O(1)
    prefix = np.concatenate([[0], np.cumsum(bad)])
    triplets = []
    for gap in gaps:
        for a in range(0, steps.frames - 2 * gap, stride):
            c = a + 2 * gap
            if prefix[c] - prefix[a] == 0:
                triplets.append((a, a + gap, c))
    return triplets


def training_gaps(steps: ClipSteps, rules: TripletRules | None = None) -> tuple[int, ...]:
    """Gap 1 for every clip; also 2 and 4 for high-fps footage."""
    rules = rules or TripletRules()
    return (1, 2, 4) if steps.fps >= rules.high_fps else (1,)


def spread(items: list[T], limit: int | None) -> list[T]:
    """At most ``limit`` of ``items``, evenly spread and in order (deterministic; None: all)."""
    if limit is None or len(items) <= limit:
        return list(items)
    picks = np.linspace(0, len(items) - 1, limit).round().astype(int)
    return [items[i] for i in sorted(set(picks.tolist()))]
