"""``aprvfi info``: what a file holds, measured from its packets (no full decode)."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av

from aprvfi_cli.errors import InputError
from aprvfi_cli.video.declared import has_timestamps, nominal_rate
from aprvfi_cli.video.reader import ColorInfo, open_input, video_stream


@dataclass(frozen=True)
class StreamSummary:
    """One stream of the container, described in a line."""

    index: int
    kind: str
    codec: str
    details: str


@dataclass
class VideoProbe:
    """Facts about the first video stream of a file.

    Attributes:
        rate: declared average frame rate (exact); measured_rate: (frames - 1) / (last - first
            pts); variable: some frame lies more than one time-base tick off the even grid from
            the first to the last frame (rounding to the time base stays within one tick).
        duration: first pts to the end of the last frame (s); frame_count: video packets.
    """

    path: Path
    container: str
    width: int
    height: int
    pix_fmt: str
    bit_depth: int
    codec: str
    time_base: Fraction | None
    rate: Fraction | None
    measured_rate: Fraction | None
    variable: bool
    duration: Fraction
    frame_count: int
    color: ColorInfo
    rotation: int
    streams: list[StreamSummary] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Human-readable report, one fact per line."""

        def rate_text(rate: Fraction | None) -> str:
            return "unknown" if rate is None else f"{rate.numerator}/{rate.denominator} ({float(rate):.6g} fps)"

        out = [
            f"file:        {self.path}",
            f"container:   {self.container}",
            f"video:       {self.codec} {self.width}x{self.height} {self.pix_fmt} ({self.bit_depth}-bit)",
            f"frame rate:  {rate_text(self.rate)}{' variable' if self.variable else ' constant'}",
            f"measured:    {rate_text(self.measured_rate)}",
            f"duration:    {float(self.duration):.6f} s ({self.duration.numerator}/{self.duration.denominator})",
            f"frames:      {self.frame_count}",
            f"colour:      {self.color.describe()}",
            f"rotation:    {self.rotation}",
            f"time base:   {self.time_base}",
        ]
        out += [f"stream #{s.index}:   {s.kind} {s.codec} {s.details}".rstrip() for s in self.streams]
        return out


def _describe(stream: av.stream.Stream) -> StreamSummary:
    ctx = stream.codec_context
    codec = ctx.name if ctx is not None else "unknown"
    details = ""
    if stream.type == "video" and ctx is not None:
        details = f"{ctx.width}x{ctx.height} {ctx.pix_fmt}"
    elif stream.type == "audio" and ctx is not None:
        details = f"{ctx.sample_rate} Hz {getattr(ctx.layout, 'name', '')}"
    if stream.language:
        details += f" [{stream.language}]"
    return StreamSummary(stream.index, stream.type, codec, details.strip())


def is_variable(stamps: list[int]) -> bool:
    """True if the sorted ``stamps`` (time-base ticks) are not an evenly spaced grid rounded to ticks.

    Compared with the straight line from the first to the last stamp, so a constant 29.97 fps
    in 1/1000 ticks (steps 33, 34, 33...) is constant, and 24 fps then 30 fps in 1/120 ticks
    (steps 5, then 4: at most one tick apart) is variable.
    """
    n = len(stamps) - 1
    if n < 2:
        return False
    span = stamps[-1] - stamps[0]
    # (stamps[i] - stamps[0]) - i * span / n, scaled by n to stay in integers
    return any(abs((s - stamps[0]) * n - i * span) > n for i, s in enumerate(stamps))


def _first_rotation(path: Path) -> int:
    """Display rotation of the first decodable frame (0 if none decodes).

    Opened again rather than seeking back: raw streams and truncated files refuse to seek.
    """
    try:
        with open_input(path) as container:
            for frame in container.decode(video_stream(container, path)):
                return int(round(frame.rotation or 0))
    except (av.error.FFmpegError, InputError):
        pass  # the packet facts stand; decoding problems show when converting
    return 0


def probe(path: str | Path) -> VideoProbe:
    """Probe ``path``; raises :class:`InputError` / :class:`UsageError` with one line."""
    path = Path(path)
    with open_input(path) as container:
        stream = video_stream(container, path)
        ctx = stream.codec_context
        tb = Fraction(stream.time_base) if stream.time_base else None
        stamps: list[int] = []
        last_duration, packets = 0, 0
        try:
            for packet in container.demux(stream):
                packets += bool(packet.size)
                if packet.pts is not None and packet.size:
                    stamps.append(packet.pts)
                    last_duration = packet.duration or last_duration
        except av.error.FFmpegError as error:
            raise InputError(f"{path} is corrupt ({error.strerror})") from error
        rotation = _first_rotation(path)
        color = ColorInfo(ctx.color_primaries, ctx.color_trc, ctx.colorspace, ctx.color_range)
        stamps.sort()
        rate = nominal_rate(stream, timestamps=has_timestamps(container))
        measured, variable, duration = None, False, Fraction(0)
        if stamps and tb is not None:
            steps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
            if steps and stamps[-1] > stamps[0]:
                measured = Fraction(len(steps)) / ((stamps[-1] - stamps[0]) * tb)
                variable = is_variable(stamps)
            last = last_duration or (steps[-1] if steps else 0)
            duration = (stamps[-1] - stamps[0] + last) * tb
        elif packets and rate:  # a raw stream: no timestamps, one frame per packet at the rate
            duration = packets / rate
        fmt = av.VideoFormat(ctx.pix_fmt or "yuv420p")
        return VideoProbe(
            path=path,
            container=container.format.name,
            width=ctx.width,
            height=ctx.height,
            pix_fmt=ctx.pix_fmt or "unknown",
            bit_depth=max((c.bits for c in fmt.components), default=8),
            codec=ctx.name,
            time_base=tb,
            rate=rate,
            measured_rate=measured,
            variable=variable,
            duration=duration,
            frame_count=max(len(stamps), packets),
            color=color,
            rotation=rotation,
            streams=[_describe(s) for s in container.streams],
        )
