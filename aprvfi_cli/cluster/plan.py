"""The global plan of one video, made once on the driver: kept frames, cuts, keyframes, outputs.

It is the local engine's timeline (same planner, same duplicate and cut decisions, in the same
order), recorded instead of rendered, so that segments rendered anywhere join into exactly the
frames a single-machine run writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av

from aprvfi_cli.engine.stream import JobOptions, Retime
from aprvfi_cli.errors import InputError
from aprvfi_cli.video.reader import ColorInfo, SourceFrame, VideoReader, open_input, video_stream
from aprvfi_cli.video.scene import CutDetector, FrameSignature, is_duplicate
from aprvfi_cli.video.timeline import OutputFrame, RatePlanner, SlowmoPlanner, make_slowmo_planner


@dataclass(frozen=True)
class OutputStream:
    """What every segment's encoder is given: size (px), rate (frames/s), time base (s), format."""

    width: int
    height: int
    rate: Fraction
    time_base: Fraction
    pix_fmt: str
    high_bit_depth: bool
    color: ColorInfo
    rotation: int
    first_pts: Fraction  # source time (s) that becomes 0 in the output


@dataclass(frozen=True)
class SourcePlan:
    """One video's output timeline with what a segment needs to start anywhere.

    Attributes:
        kept: pts (s) of the kept source frames, in order (the timeline's source indices).
        cuts: kept indices k with a scene cut between frames k-1 and k.
        keyframes: kept indices whose frame is a keyframe: decoding may start there.
        outputs: every planned output frame, in order (``source`` indexes ``kept``).
    """

    source: Path
    stream: OutputStream
    kept: tuple[Fraction, ...]
    cuts: frozenset[int]
    keyframes: frozenset[int]
    outputs: tuple[OutputFrame, ...]
    frames_in: int = 0
    duplicates: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)


def _planner(reader: VideoReader, retime: Retime) -> tuple[RatePlanner | SlowmoPlanner, Fraction, Fraction]:
    """The planner, output rate (frames/s) and time base (s), chosen as ``process_video`` does."""
    rate = reader.rate
    if retime.fps is not None:
        return RatePlanner(sample_rate=retime.fps), retime.fps, 1 / retime.fps
    factor = Fraction(retime.slowmo)
    if factor.denominator != 1 and not rate:
        raise InputError(f"{reader.path} has no frame rate; use an integer slow-motion factor")
    planner = make_slowmo_planner(factor=factor, source_rate=rate)
    out_rate = rate or Fraction(25)
    time_base = reader.time_base if factor.denominator == 1 and reader.time_base else 1 / out_rate
    return planner, out_rate, time_base


def keyframe_times(source: Path) -> set[Fraction]:
    """pts (s) of the video stream's keyframes, from the packets alone (no decoding)."""
    times: set[Fraction] = set()
    with open_input(source) as container:
        stream = video_stream(container, source)
        try:
            for packet in container.demux(stream):
                if packet.is_keyframe and packet.pts is not None and packet.time_base is not None:
                    times.add(Fraction(packet.pts) * Fraction(packet.time_base))
        except av.error.FFmpegError as error:
            raise InputError(f"{source} is corrupt or truncated ({error.strerror})") from error
    return times


def scan_source(source: Path, options: JobOptions) -> SourcePlan:
    """Decode ``source`` once and plan its whole output timeline (no model, nothing written).

    Raises :class:`InputError` as ``process_video`` would for the same file.
    """
    keys = keyframe_times(source)
    with VideoReader(source) as reader:
        if reader.declared_frames == 1:
            raise InputError(f"{source} has only one frame: nothing to interpolate")
        planner, rate, time_base = _planner(reader, options.retime)
        frames = reader.frames()
        first = next(frames, None)
        if first is None:
            raise InputError(f"{source} has no decodable video frames")
        kept, cuts, keyframes, outputs = [first.pts], set(), set(), list(planner.push(first.pts))
        if first.pts in keys:
            keyframes.add(0)
        prev: SourceFrame = first
        prev_sig = FrameSignature.of(first.image)
        before_last: Fraction | None = None
        detect_cut = CutDetector(options.scene)
        duplicates = disordered = 0
        for frame in frames:  # the engine's loop (engine/stream.py), recording instead of rendering
            if frame.pts <= prev.pts:
                disordered += 1
                continue
            sig = FrameSignature.of(frame.image)
            if is_duplicate(prev_sig, sig, options.scene):
                duplicates += 1
                continue
            if detect_cut(prev_sig, sig):
                cuts.add(len(kept))
            if frame.pts in keys:
                keyframes.add(len(kept))
            kept.append(frame.pts)
            outputs.extend(planner.push(frame.pts))
            before_last, prev, prev_sig = prev.pts, frame, sig
        if reader.frames_decoded < 2:
            raise InputError(f"{source} has only one frame: nothing to interpolate")
        last_pts = reader.last_pts if reader.last_pts is not None else prev.pts
        outputs.extend(planner.finish(reader.end_time(last_pts, before_last)))
        notes = [f"{disordered} frames dropped: timestamps not increasing"] if disordered else []
        stream = OutputStream(
            width=first.image.shape[1],
            height=first.image.shape[0],
            rate=rate,
            time_base=time_base,
            pix_fmt=reader.pix_fmt,
            high_bit_depth=reader.high_bit_depth,
            color=reader.color,
            rotation=reader.rotation,
            first_pts=first.pts,
        )
        return SourcePlan(
            source=source,
            stream=stream,
            kept=tuple(kept),
            cuts=frozenset(cuts),
            keyframes=frozenset(keyframes),
            outputs=tuple(outputs),
            frames_in=reader.frames_decoded,
            duplicates=duplicates,
            notes=tuple([*notes, *getattr(reader, "notes", [])]),
        )
