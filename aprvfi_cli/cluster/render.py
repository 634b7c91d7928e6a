"""Rendering one segment: decode from its keyframe, interpolate its pairs, encode its frames.

Runs on a worker; it is the engine's batching and encoder (``engine/stream.py``,
``video/writer.py``) fed from a seek instead of from the first frame. No Ray here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from aprvfi_cli.cluster.plan import OutputStream
from aprvfi_cli.cluster.segments import Segment
from aprvfi_cli.engine.interpolator import Interpolator
from aprvfi_cli.engine.stream import JobOptions, PairBatcher, default_batch_pairs
from aprvfi_cli.errors import InputError
from aprvfi_cli.video.reader import VideoReader
from aprvfi_cli.video.writer import VideoWriter


@dataclass(frozen=True)
class SegmentJob:
    """Everything a worker needs for one segment; ``part`` is where its encoded frames go (an MP4
    file whose times start at 0: MP4 keeps exact times from 0, not from an arbitrary start)."""

    source: Path
    part: Path
    segment: Segment
    stream: OutputStream
    options: JobOptions


def decode_frames(reader: VideoReader, seek: Fraction | None, wanted: tuple[Fraction, ...]) -> Iterator[np.ndarray]:
    """The images of the frames at ``wanted`` pts (s, increasing), decoding from the keyframe at
    ``seek`` (s; None: from the start).

    Frames in between (dropped duplicates, disordered frames) are decoded and skipped; decoding
    stops after the last wanted frame. Raises :class:`InputError` if a wanted frame is missing.
    """
    if seek is not None and reader.time_base:
        try:
            reader.container.seek(round(seek / reader.time_base), stream=reader.stream, backward=True)
        except av.error.FFmpegError as error:
            raise InputError(f"cannot seek in {reader.path} ({error.strerror})") from error
    position = 0
    frames = reader.frames()
    try:
        for frame in frames:
            if frame.pts < wanted[position]:
                continue
            if frame.pts > wanted[position]:
                break
            yield frame.image
            position += 1
            if position == len(wanted):
                return
    finally:
        frames.close()
    raise InputError(f"{reader.path}: the frame at {float(wanted[position]):.6f} s was not found after a seek")


def render_segment(job: SegmentJob, interpolator: Interpolator, progress: Callable[[int], None] | None = None) -> int:
    """Encode the segment's output frames into ``job.part`` (atomically); returns the frame count.

    ``progress`` is called with the number of frames written since its previous call.
    """
    segment, stream = job.segment, job.stream
    wanted = segment.frames
    reported = 0
    with VideoReader(job.source) as reader:
        writer = VideoWriter(
            job.part,
            width=stream.width,
            height=stream.height,
            rate=stream.rate,
            time_base=stream.time_base,
            settings=job.options.encode,
            source_pix_fmt=stream.pix_fmt,
            high_bit_depth=stream.high_bit_depth,
            color=stream.color,
            rotation=stream.rotation,
        )
        with writer:
            pairs = job.options.batch_pairs or default_batch_pairs(stream.width, stream.height)
            batcher = PairBatcher(interpolator, writer, pairs)
            start = segment.outputs[0].time if segment.outputs else Fraction(0)
            outputs = iter([replace(frame, time=frame.time - start) for frame in segment.outputs])
            pending = next(outputs, None)
            previous: np.ndarray | None = None
            for j, image in enumerate(decode_frames(reader, wanted[0] if segment.start else None, wanted)):
                if previous is not None:
                    planned = []
                    while pending is not None and pending.source == segment.start + j - 1:
                        planned.append(pending)
                        pending = next(outputs, None)
                    batcher.add(previous, image, segment.cuts[j - 1], planned)
                    if progress and batcher.written > reported:
                        progress(batcher.written - reported)
                        reported = batcher.written
                previous = image
            if segment.final and previous is not None:
                batcher.add(previous, None, False, list(outputs if pending is None else [pending, *outputs]))
            batcher.flush()
        if progress and batcher.written > reported:
            progress(batcher.written - reported)
    if writer.frames_written != len(segment.outputs):
        raise InputError(f"{job.source}: segment {segment.index} wrote {writer.frames_written} of "
                         f"{len(segment.outputs)} frames")  # fmt: skip
    return writer.frames_written
