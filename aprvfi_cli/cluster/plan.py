"""The global plan of one video, made once on the driver: kept frames, cuts, keyframes, outputs.

It is the local engine's timeline (``engine/stream.py``'s ``plan_output`` and ``kept_pairs``: the
same planner, the same duplicate and cut decisions), recorded instead of rendered, so that
segments rendered anywhere join into exactly the frames a single-machine run writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av

from aprvfi_cli.engine.stream import JobOptions, JobResult, kept_pairs, plan_output
from aprvfi_cli.errors import InputError
from aprvfi_cli.video.reader import ColorInfo, SourceFrame, VideoReader, open_input, video_stream
from aprvfi_cli.video.timeline import OutputFrame


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
    counts = JobResult(output=source)  # duplicates, cuts and notes, as the local run counts them
    with VideoReader(source) as reader:
        output = plan_output(reader, options.retime)
        planner = output.planner
        frames = reader.frames()
        first = next(frames, None)
        if first is None:
            raise InputError(f"{source} has no decodable video frames")
        kept, cuts, keyframes, outputs = [first.pts], set(), set(), list(planner.push(first.pts))
        if first.pts in keys:
            keyframes.add(0)
        prev: SourceFrame = first
        before_last: Fraction | None = None
        for a, b, cut in kept_pairs(first, frames, options.scene, counts):
            if cut:
                cuts.add(len(kept))
            if b.pts in keys:
                keyframes.add(len(kept))
            kept.append(b.pts)
            outputs.extend(planner.push(b.pts))
            before_last, prev = a.pts, b
        if reader.frames_decoded < 2:
            raise InputError(f"{source} has only one frame: nothing to interpolate")
        last_pts = reader.last_pts if reader.last_pts is not None else prev.pts
        outputs.extend(planner.finish(reader.end_time(last_pts, before_last)))
        stream = OutputStream(
            width=first.image.shape[1],
            height=first.image.shape[0],
            rate=output.rate,
            time_base=output.time_base,
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
            duplicates=counts.duplicates,
            notes=tuple([*counts.notes, *reader.notes]),
        )
