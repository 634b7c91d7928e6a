"""Cutting a planned timeline into segments that start at source keyframes, at scene cuts if any.

A segment owns the source pairs (k, k+1) for k in [start, stop) of the kept frames and renders
exactly the output frames planned from those pairs; it reads kept frames start..stop (one past
its end, the second frame of its last pair). The last segment also renders the tail (copies of
the last frame). Output frames are ordered by pair, so segments joined in order are the whole
timeline, with no frame twice and none missing.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from fractions import Fraction

from aprvfi_cli.cluster.plan import SourcePlan
from aprvfi_cli.video.timeline import OutputFrame

# a boundary may move this fraction of a segment's length from the even split to reach a scene cut
_CUT_REACH = Fraction(1, 4)


@dataclass(frozen=True)
class Segment:
    """One worker's share of the timeline.

    Attributes:
        index: position in the joined output (0-based).
        start: kept index of its first frame (a keyframe, or 0).
        frames: pts (s) of the kept frames it reads, ``start`` first.
        cuts: for each pair (frames[j], frames[j+1]), whether a scene cut lies between them.
        outputs: the output frames it renders, in order.
        final: True for the last segment (its last frame has no successor and makes the tail).
    """

    index: int
    start: int
    frames: tuple[Fraction, ...]
    cuts: tuple[bool, ...]
    outputs: tuple[OutputFrame, ...]
    final: bool


def choose_starts(kept: int, keyframes: Collection[int], cuts: Collection[int], parts: int) -> list[int]:
    """Kept indices where segments start: 0, then about every ``kept / parts`` frames.

    Only keyframes qualify (decoding starts there); near each even split point a scene cut is
    preferred (a seam there is invisible whatever happens), else the nearest keyframe. Fewer
    segments come out when keyframes are sparse. The last pair's second frame never starts one.
    """
    starts = [0]
    if parts < 2 or kept < 3:
        return starts
    length = Fraction(kept, parts)
    candidates = sorted(k for k in keyframes if 0 < k < kept - 1)
    for j in range(1, parts):
        ideal = j * length
        later = [k for k in candidates if k > starts[-1]]
        near = [k for k in later if abs(k - ideal) <= length * _CUT_REACH]
        at_cut = [k for k in near if k in cuts]
        pool = at_cut or near or [k for k in later if abs(k - ideal) < length / 2]
        if pool:
            starts.append(min(pool, key=lambda k: (abs(k - ideal), k)))
    return starts


def split_plan(plan: SourcePlan, parts: int) -> list[Segment]:
    """``plan`` cut into at most ``parts`` segments (see :func:`choose_starts`)."""
    kept = len(plan.kept)
    starts = choose_starts(kept, plan.keyframes, plan.cuts, parts)
    bounds = [*starts, kept]
    by_pair: list[list[OutputFrame]] = [[] for _ in range(len(starts))]
    segment = 0
    for frame in plan.outputs:
        while frame.source >= bounds[segment + 1]:
            segment += 1
        by_pair[segment].append(frame)
    segments = []
    for index, (start, stop) in enumerate(zip(bounds, bounds[1:], strict=False)):
        last = min(stop, kept - 1)  # read one frame past the end, except after the final frame
        frames = plan.kept[start : last + 1]
        cuts = tuple(k in plan.cuts for k in range(start + 1, last + 1))
        segments.append(Segment(index, start, frames, cuts, tuple(by_pair[index]), final=stop == kept))
    return segments
