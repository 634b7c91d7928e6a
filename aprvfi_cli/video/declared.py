"""What a container declares about its video stream: frame rate, frame count and end time.

The reader compares these with what it actually decoded, so a truncated or corrupt file fails
instead of giving a silently shorter output.
"""

from __future__ import annotations

import re
from fractions import Fraction

import av

# AV_TIME_BASE: container durations and start times are in microseconds
_CONTAINER_TICK = Fraction(1, 1_000_000)
_CLOCK = re.compile(r"^(\d+):(\d\d):(\d\d(?:\.\d+)?)$")


def has_timestamps(container: av.container.InputContainer) -> bool:
    """False for raw streams (.h264, .hevc, .m2v...) whose demuxer invents the timestamps."""
    return not container.format.flags & av.format.Flags.no_timestamps.value


def is_discontinuous(container: av.container.InputContainer) -> bool:
    """True for containers whose timestamps may legally jump (MPEG-TS, e.g. files joined with cat)."""
    return bool(container.format.flags & av.format.Flags.ts_discont.value)


def nominal_rate(stream: av.video.stream.VideoStream, *, timestamps: bool = True) -> Fraction | None:
    """The stream's declared frame rate (frames/s), or None.

    Average rate first, then the guessed (codec-level) rate, then the base rate. A raw stream
    (``timestamps=False``) has no average of its own: its demuxer reports its 25 fps default
    there, while the guessed rate comes from the bitstream's timing info (24 for a 24 fps .h264).
    """
    order = (stream.average_rate, stream.guessed_rate, stream.base_rate)
    if not timestamps:
        order = (stream.guessed_rate, stream.average_rate, stream.base_rate)
    for rate in order:
        if rate:
            return Fraction(rate)
    return None


def trusted_frame_count(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> int:
    """Frames the container's index counts, 0 if it has none we can trust.

    Only MP4/MOV sample tables count real frames (an AVI header counts empty slots too).
    """
    name = container.format.name
    return int(stream.frames or 0) if "mp4" in name or "mov" in name else 0


def parse_clock(text: str) -> Fraction | None:
    """``"00:00:03.020000000"`` (a Matroska DURATION tag) -> 151/50 s; None if malformed."""
    match = _CLOCK.match(str(text).strip())
    if match is None:
        return None
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + Fraction(seconds)


def declared_end(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, rate: Fraction | None
) -> Fraction | None:
    """Where the container says the video stream ends (s, on the stream's own clock), or None.

    Used only where no trusted frame count exists (MKV, WebM, TS, AVI...). Sources, the
    largest wins: the stream's duration; Matroska's per-track DURATION tag; an AVI header's
    frame count at the nominal rate. Only without any of these, the container's duration,
    and only when video is its only stream (it includes audio and subtitles, which may
    legitimately run longer).
    """
    if trusted_frame_count(container, stream):
        return None  # MP4/MOV: the frame count is the stronger check
    tb = Fraction(stream.time_base) if stream.time_base else None
    start = Fraction(stream.start_time) * tb if stream.start_time is not None and tb else Fraction(0)
    ends: list[Fraction] = []
    if stream.duration and tb:
        ends.append(start + Fraction(stream.duration) * tb)
    tag = next((v for k, v in (stream.metadata or {}).items() if k.upper() == "DURATION"), None)
    if tag is not None and (clock := parse_clock(tag)) is not None:
        ends.append(clock)  # Matroska writes the track's end time
    if container.format.name == "avi" and stream.frames and rate:
        ends.append(start + Fraction(int(stream.frames)) / rate)
    ends = [end for end in ends if end > 0]
    if not ends and container.duration and len(container.streams) == 1:
        origin = Fraction(container.start_time or 0) * _CONTAINER_TICK
        ends.append(origin + Fraction(container.duration) * _CONTAINER_TICK)
    return max(ends) if ends else None


def declared_duration(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, rate: Fraction | None
) -> Fraction | None:
    """The video's declared length (s): frame count / rate, else the declared end; None if unknown."""
    frames = trusted_frame_count(container, stream)
    if frames and rate:
        return frames / rate
    end = declared_end(container, stream, rate)
    if end is None:
        return None
    tb = Fraction(stream.time_base) if stream.time_base else None
    start = Fraction(stream.start_time) * tb if stream.start_time is not None and tb else Fraction(0)
    return end - start if end > start else None


def shortfall_tolerance(rate: Fraction | None) -> Fraction:
    """How far (s) the decoded end may fall short of the declared one: two frame intervals.

    Containers round their durations (Matroska to 1 ms) and the last frame's duration may be
    unknown; a lost frame more than that is a truncation.
    """
    return 2 / rate if rate else Fraction(1, 10)
