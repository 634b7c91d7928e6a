"""Output timelines: which source pair and which t make each output frame (pure Fractions).

Times are seconds as :class:`fractions.Fraction`, relative to the first source frame. Nothing
here rounds, so 24->60, 29.97->59.94 or variable-frame-rate sources come out exact.

Frame-rate conversion: output frame n sits at T_n = n / fps_out and takes the
source pair (i, i+1) with pts_i <= T_n < pts_{i+1}, t = (T_n - pts_i) / (pts_{i+1} - pts_i);
t == 0 copies frame i; times at or after the last frame's pts (up to the end of the stream)
copy the last frame. Slow motion by an integer k inserts k-1 frames per pair (t = j/k), keeps
the playback rate and scales every time by k (variable rates stay variable); a fractional k
samples the source at k times its rate and plays the result at the source rate.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from math import ceil

# beyond this a slow motion is a still picture, and a typo (1e9) would run until killed
MAX_SLOWMO_FACTOR = 1000


@dataclass(frozen=True)
class OutputFrame:
    """One planned output frame.

    Attributes:
        index: n, the output frame number (0-based).
        time: presentation time of the output frame (s).
        source: i, the earlier source frame of the pair (index into the kept source frames).
        t: position between frame i (0) and i+1 (1); 0 means "copy frame i".
    """

    index: int
    time: Fraction
    source: int
    t: Fraction

    @property
    def is_copy(self) -> bool:
        return self.t == 0


def parse_rate(text: str | float | int | Fraction) -> Fraction:
    """A frame rate from "60", "59.94", "60000/1001" (or a number) as an exact Fraction.

    The NTSC rates 23.976, 29.97, 59.94 and 119.88 mean n*1000/1001, as every tool reads them.
    Raises ValueError for anything that is not a positive finite rate.
    """
    if isinstance(text, Fraction):
        rate = text
    else:
        raw = str(text).strip()
        try:
            if "/" in raw:
                num, den = raw.split("/", 1)
                rate = Fraction(int(num), int(den))
            else:
                rate = Fraction(raw)
        except (ValueError, ZeroDivisionError) as error:
            raise ValueError(f"not a frame rate: {text!r} (use e.g. 60, 59.94 or 60000/1001)") from error
        ntsc = {"23.976": 24, "23.98": 24, "29.97": 30, "59.94": 60, "119.88": 120, "47.952": 48}
        if raw in ntsc:
            rate = Fraction(ntsc[raw] * 1000, 1001)
    if rate <= 0 or rate > 10000:
        raise ValueError(f"frame rate must be positive (and at most 10000), got {text!r}")
    return rate


class RatePlanner:
    """Incremental frame-rate conversion planner (feed kept source pts in order).

    ``sample_rate`` is the rate at which the source is sampled; ``output_rate`` the rate the
    output plays at (equal for ``convert``; for fractional slow motion the sample rate is k
    times the output rate).
    """

    def __init__(self, *, sample_rate: Fraction, output_rate: Fraction | None = None) -> None:
        self.sample_rate = Fraction(sample_rate)
        self.output_rate = Fraction(output_rate if output_rate is not None else sample_rate)
        self._pts: list[Fraction] = []  # only the last one is kept once planned past it
        self._first: Fraction | None = None
        self._count = 0  # source frames pushed
        self._n = 0  # next output frame

    def _sample_time(self, n: int) -> Fraction:
        return Fraction(n) / self.sample_rate

    def _out_time(self, n: int) -> Fraction:
        return Fraction(n) / self.output_rate

    def push(self, pts: Fraction) -> list[OutputFrame]:
        """Add source frame ``pts`` (absolute, s); returns the frames now fully planned."""
        pts = Fraction(pts)
        if self._first is None:
            self._first = pts
        rel = pts - self._first
        if self._pts and rel <= self._pts[-1]:
            raise ValueError(f"source timestamps must increase: {float(rel)} after {float(self._pts[-1])}")
        self._pts.append(rel)
        self._count += 1
        planned: list[OutputFrame] = []
        if len(self._pts) < 2:
            return planned
        p0, p1 = self._pts[-2], self._pts[-1]
        i = self._count - 2
        while self._sample_time(self._n) < p1:
            s = self._sample_time(self._n)
            planned.append(OutputFrame(self._n, self._out_time(self._n), i, (s - p0) / (p1 - p0)))
            self._n += 1
        self._pts = self._pts[-1:]
        return planned

    def finish(self, end: Fraction | None) -> list[OutputFrame]:
        """Plan the tail: copies of the last frame for every sample time before ``end``.

        ``end`` is the absolute end time of the video stream (last pts + its duration); None
        emits the last frame once if nothing was planned at or after it.
        """
        if not self._pts:
            return []
        last = self._pts[-1]
        i = self._count - 1
        stop = (Fraction(end) - self._first) if end is not None else last
        planned: list[OutputFrame] = []
        while self._sample_time(self._n) < stop or self._n == 0:
            planned.append(OutputFrame(self._n, self._out_time(self._n), i, Fraction(0)))
            self._n += 1
        return planned


class SlowmoPlanner:
    """Incremental integer slow motion: k-1 new frames per pair, every time scaled by k."""

    def __init__(self, *, factor: int) -> None:
        if factor < 2:
            raise ValueError("slow-motion factor must be at least 2")
        self.factor = factor
        self._last: Fraction | None = None
        self._first: Fraction | None = None
        self._count = 0
        self._n = 0

    def push(self, pts: Fraction) -> list[OutputFrame]:
        pts = Fraction(pts)
        if self._first is None:
            self._first = pts
        rel = pts - self._first
        if self._last is not None and rel <= self._last:
            raise ValueError(f"source timestamps must increase: {float(rel)} after {float(self._last)}")
        planned: list[OutputFrame] = []
        if self._last is not None:
            p0, i = self._last, self._count - 1
            for j in range(self.factor):
                t = Fraction(j, self.factor)
                time = self.factor * (p0 + t * (rel - p0))
                planned.append(OutputFrame(self._n, time, i, t))
                self._n += 1
        self._last = rel
        self._count += 1
        return planned

    def finish(self, end: Fraction | None) -> list[OutputFrame]:
        """The last source frame: k copies spread over its scaled duration, so the output lasts
        exactly k x the source (``end``: the stream's absolute end, s); once if ``end`` is None."""
        if self._last is None:
            return []
        last, i = self._last, self._count - 1
        copies = 1 if end is None or Fraction(end) - self._first <= last else self.factor
        span = (Fraction(end) - self._first - last) if copies > 1 else Fraction(0)
        planned = []
        for j in range(copies):
            planned.append(OutputFrame(self._n, self.factor * last + j * span, i, Fraction(0)))
            self._n += 1
        return planned


def _run(planner: RatePlanner | SlowmoPlanner, pts: Iterable[Fraction], end: Fraction | None) -> list[OutputFrame]:
    frames: list[OutputFrame] = []
    for p in pts:
        frames.extend(planner.push(p))
    frames.extend(planner.finish(end))
    return frames


def plan_timeline(pts: Sequence[Fraction], *, fps_out: Fraction, end: Fraction | None = None) -> list[OutputFrame]:
    """Frame-rate conversion plan for source ``pts`` (s, increasing) ending at ``end`` (s)."""
    return _run(RatePlanner(sample_rate=Fraction(fps_out)), pts, end)


def plan_slowmo(
    pts: Sequence[Fraction],
    *,
    factor: Fraction | int,
    source_rate: Fraction | None = None,
    end: Fraction | None = None,
) -> list[OutputFrame]:
    """Slow-motion plan: an integer k inserts k-1 per pair; a fractional k needs source_rate."""
    return _run(make_slowmo_planner(factor=factor, source_rate=source_rate), pts, end)


def make_slowmo_planner(*, factor: Fraction | int, source_rate: Fraction | None) -> RatePlanner | SlowmoPlanner:
    """The planner for slow motion by ``factor`` (> 1)."""
    factor = Fraction(factor)
    if factor <= 1:
        raise ValueError(f"slow-motion factor must be greater than 1, got {factor}")
    if factor > MAX_SLOWMO_FACTOR:
        raise ValueError(f"slow-motion factor must be at most {MAX_SLOWMO_FACTOR}, got {factor}")
    if factor.denominator == 1:
        return SlowmoPlanner(factor=int(factor))
    if source_rate is None:
        raise ValueError("a fractional slow-motion factor needs the source frame rate")
    return RatePlanner(sample_rate=Fraction(source_rate) * factor, output_rate=Fraction(source_rate))


def expected_output_count(*, duration: Fraction, fps_out: Fraction) -> int:
    """Output frames of a conversion of a stream lasting ``duration`` s: ceil(duration * fps)."""
    return max(1, ceil(Fraction(duration) * Fraction(fps_out)))


def group_by_pair(frames: Iterable[OutputFrame]) -> dict[int, list[OutputFrame]]:
    """Output frames that need interpolation, grouped by source pair i (flow once per pair)."""
    pairs: dict[int, list[OutputFrame]] = {}
    for frame in frames:
        if not frame.is_copy:
            pairs.setdefault(frame.source, []).append(frame)
    return pairs
