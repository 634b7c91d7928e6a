"""Decoding: RGB frames with exact presentation times, plus the colour and rotation to keep.

Frames come out as (H, W, 3) RGB numpy arrays: uint8 for 8-bit sources, uint16 (full 16-bit
scale) for 10/12-bit sources, so the bit depth survives the round trip through the model.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from aprvfi_cli.errors import InputError, UsageError
from aprvfi_cli.video.declared import (
    declared_duration,
    declared_end,
    has_timestamps,
    is_discontinuous,
    nominal_rate,
    shortfall_tolerance,
    trusted_frame_count,
)

__all__ = ["ColorInfo", "SourceFrame", "VideoReader", "check_input_path", "nominal_rate", "open_input", "video_stream"]
# a jump back larger than this in a discontinuous container (MPEG-TS) starts a new segment
_DISCONTINUITY = Fraction(1, 10)

# swscale knows these YCbCr matrices; others fall back to its default (BT.601)
_SWS_COLORSPACES = {1, 4, 5, 6, 7, 9}
_SPACE_NAMES = {
    0: "rgb",
    1: "bt709",
    2: "unspecified",
    4: "fcc",
    5: "bt470bg",
    6: "smpte170m",
    7: "smpte240m",
    9: "bt2020nc",
    10: "bt2020c",
}


@dataclass(frozen=True)
class ColorInfo:
    """Colour tags of a stream (FFmpeg enum values; 2 / 0 mean unspecified)."""

    primaries: int = 2
    trc: int = 2
    space: int = 2
    range: int = 0

    def describe(self) -> str:
        names = []
        for label, value, enum in (
            ("primaries", self.primaries, av.video.reformatter.ColorPrimaries),
            ("trc", self.trc, av.video.reformatter.ColorTrc),
            ("space", self.space, _SPACE_NAMES),
            ("range", self.range, av.video.reformatter.ColorRange),
        ):
            name = str(value)
            if isinstance(enum, dict):
                name = enum.get(value, name)
            elif enum is not None:
                try:
                    name = enum(value).name.lower()
                except ValueError:
                    pass
            names.append(f"{label}={name}")
        return " ".join(names)


@dataclass(frozen=True)
class SourceFrame:
    """One decoded frame.

    Attributes:
        index: position among the decoded frames (0-based).
        pts: presentation time in seconds (exact: pts * time_base).
        image: (H, W, 3) RGB, uint8 or uint16.
    """

    index: int
    pts: Fraction
    image: np.ndarray


def check_input_path(path: Path) -> Path:
    """The path must be an existing regular file (usage error otherwise)."""
    if not path.exists():
        raise UsageError(f"input not found: {path}")
    if path.is_dir():
        raise UsageError(f"input is a directory, expected a video file: {path}")
    return path


def open_input(path: Path) -> av.container.InputContainer:
    """Open ``path`` with PyAV, turning every failure into a one-line :class:`InputError`."""
    check_input_path(path)
    try:
        return av.open(str(path), mode="r", metadata_errors="replace")  # corrupt tags must not fail
    except av.error.FFmpegError as error:
        raise InputError(f"cannot read {path}: not a video file or corrupt ({error.strerror})") from error
    except OSError as error:
        raise InputError(f"cannot open {path}: {error.strerror or error}") from error


def video_stream(container: av.container.InputContainer, path: Path) -> av.video.stream.VideoStream:
    """The first video stream, or :class:`InputError` for audio-only and other files."""
    streams = [s for s in container.streams.video if s.codec_context is not None]
    if not streams:
        kinds = sorted({s.type for s in container.streams}) or ["no streams"]
        raise InputError(f"{path} has no video stream ({', '.join(kinds)} only)")
    return streams[0]


class VideoReader:
    """Decode the first video stream of a file (use as a context manager).

    Attributes (set on open): width, height, pix_fmt, high_bit_depth, time_base, rate
    (nominal, may be None), color (:class:`ColorInfo`), rotation (degrees, from the first
    frame's display matrix), declared_frames (0 if unknown), declared_end (s, where no frame
    count exists; None if unknown), duration (declared length, s, or None), frames_decoded,
    last_duration, notes (what the user should know: dropped alpha, interlacing, repaired
    timestamps).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.container = open_input(self.path)
        try:
            self.stream = video_stream(self.container, self.path)
        except InputError:
            self.container.close()
            raise
        self.stream.thread_type = "AUTO"  # frame threading: decoding overlaps inference
        ctx = self.stream.codec_context
        self.width, self.height = ctx.width, ctx.height
        self.pix_fmt = ctx.pix_fmt or "yuv420p"
        fmt = av.VideoFormat(self.pix_fmt)
        self.high_bit_depth = any(c.bits > 8 for c in fmt.components)
        self.time_base = Fraction(self.stream.time_base) if self.stream.time_base else None
        self.rate = nominal_rate(self.stream, timestamps=has_timestamps(self.container))
        self.color = ColorInfo(ctx.color_primaries, ctx.color_trc, ctx.colorspace, ctx.color_range)
        self.rotation = 0
        self.declared_frames = trusted_frame_count(self.container, self.stream)
        self.declared_end = declared_end(self.container, self.stream, self.rate)
        self.duration = declared_duration(self.container, self.stream, self.rate)
        self.frames_decoded = 0
        self.last_duration: Fraction | None = None
        self.last_pts: Fraction | None = None
        self.notes: list[str] = []
        if any(c.is_alpha for c in fmt.components):
            self.notes.append(f"the source's alpha channel ({self.pix_fmt}) was dropped: the output is opaque")

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.container.close()

    def _frame_time(self, frame: av.VideoFrame, previous: Fraction | None) -> Fraction:
        if frame.pts is not None and frame.time_base is not None:
            return Fraction(frame.pts) * Fraction(frame.time_base)
        if frame.pts is not None and self.time_base is not None:
            return Fraction(frame.pts) * self.time_base
        if previous is None:
            return Fraction(0)
        # no timestamps (raw streams): the frame's own duration, else the nominal rate
        if frame.duration and frame.time_base is not None:
            return previous + Fraction(frame.duration) * Fraction(frame.time_base)
        return previous + (1 / self.rate if self.rate else Fraction(1, 25))

    def to_rgb(self, frame: av.VideoFrame) -> np.ndarray:
        """(H, W, 3) RGB of a decoded frame, honouring its YCbCr matrix and range."""
        space = frame.colorspace if frame.colorspace in _SWS_COLORSPACES else None
        rng = frame.color_range if frame.color_range in (1, 2) else None
        fmt = "rgb48le" if self.high_bit_depth else "rgb24"
        rgb = frame.reformat(format=fmt, src_colorspace=space, src_color_range=rng)
        return rgb.to_ndarray()

    def frames(self) -> Iterator[SourceFrame]:
        """Decode every frame in presentation order with its exact pts (s).

        In a discontinuous container (MPEG-TS) a jump back in time starts a new segment, which
        continues after the previous frame (as ffmpeg does), with a note. Raises
        :class:`InputError` if the stream is corrupt or ends early: fewer frames than the
        container's index counts, or (without a count) an end short of the declared duration.
        """
        previous: Fraction | None = None
        shift = Fraction(0)  # added to every pts after a repaired discontinuity
        discontinuous = is_discontinuous(self.container)
        try:
            for frame in self.container.decode(self.stream):
                if self.frames_decoded == 0:
                    self._first_frame_facts(frame)
                pts = self._frame_time(frame, previous) + shift
                if discontinuous and previous is not None and pts < previous - _DISCONTINUITY:
                    step = self.last_duration or (1 / self.rate if self.rate else Fraction(1, 25))
                    shift += previous + step - pts
                    self.notes.append(
                        f"video timestamps jump back by {float(previous + step - pts):.3f} s "
                        f"after {float(previous):.3f} s (joined files?): continued in order"
                    )
                    pts = previous + step
                if frame.duration and frame.time_base is not None:
                    self.last_duration = Fraction(frame.duration) * Fraction(frame.time_base)
                image = self.to_rgb(frame)
                yield SourceFrame(self.frames_decoded, pts, image)
                self.frames_decoded += 1
                previous = self.last_pts = pts
        except av.error.FFmpegError as error:
            raise InputError(
                f"{self.path} is corrupt or truncated after {self.frames_decoded} frames ({error.strerror})"
            ) from error
        self._check_complete()

    def _first_frame_facts(self, frame: av.VideoFrame) -> None:
        """Rotation, colour and scan type come from the first frame (streams often omit them)."""
        self.rotation = int(round(frame.rotation or 0))
        self.color = ColorInfo(
            frame.color_primaries or self.color.primaries,
            frame.color_trc or self.color.trc,
            frame.colorspace or self.color.space,
            frame.color_range or self.color.range,
        )
        if frame.interlaced_frame:
            self.notes.append("the source is interlaced and is treated as progressive (deinterlace it first)")

    def _check_complete(self) -> None:
        """Raise :class:`InputError` if decoding stopped before the end the container declares."""
        if self.declared_frames and self.frames_decoded < self.declared_frames:
            raise InputError(
                f"{self.path} is truncated: decoded {self.frames_decoded} of {self.declared_frames} frames"
            )
        if self.declared_end is None or self.last_pts is None:
            return
        end = self.last_pts + (self.last_duration or (1 / self.rate if self.rate else 0))
        if self.declared_end - end > shortfall_tolerance(self.rate):
            raise InputError(
                f"{self.path} is truncated or corrupt: its video ends at {float(end):.3f} s, "
                f"but the file declares {float(self.declared_end):.3f} s"
            )

    def end_time(self, last_pts: Fraction, previous_pts: Fraction | None) -> Fraction:
        """End of the last frame (s): its pts plus its duration, else the last interval."""
        if self.last_duration:
            return last_pts + self.last_duration
        if self.rate:
            return last_pts + 1 / self.rate
        if previous_pts is not None:
            return last_pts + (last_pts - previous_pts)
        return last_pts + Fraction(1, 25)
