"""The streaming engine: decode -> timeline -> batched interpolation -> encode.

Memory stays bounded whatever the clip length: a decode thread feeds a small queue, only the
frames of the pairs in the current batch are held, and each batch's flow is computed once per
pair for all of that pair's t values.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from math import ceil
from pathlib import Path

import numpy as np

from aprvfi_cli.engine.interpolator import Interpolator
from aprvfi_cli.errors import InputError, ModelError, UsageError
from aprvfi_cli.video.reader import SourceFrame, VideoReader
from aprvfi_cli.video.scene import CutDetector, FrameSignature, SceneSettings, is_duplicate
from aprvfi_cli.video.timeline import (
    MAX_SLOWMO_FACTOR,
    OutputFrame,
    RatePlanner,
    SlowmoPlanner,
    make_slowmo_planner,
)
from aprvfi_cli.video.writer import EncodeSettings, VideoWriter

Progress = Callable[[int, int | None], None]
_QUEUE_FRAMES = 8  # decoded frames waiting for inference (bounds memory at 4K)


@dataclass(frozen=True)
class Retime:
    """What to do with time: convert to ``fps``, or slow down by ``slowmo`` (exactly one)."""

    fps: Fraction | None = None
    slowmo: Fraction | None = None

    def __post_init__(self) -> None:
        if (self.fps is None) == (self.slowmo is None):
            raise UsageError("give exactly one of an output frame rate and a slow-motion factor")
        if self.fps is not None and self.fps <= 0:
            raise UsageError(f"frame rate must be positive, got {self.fps}", subject="fps")
        if self.slowmo is not None and self.slowmo <= 1:
            raise UsageError(f"slow-motion factor must be greater than 1, got {self.slowmo}", subject="factor")
        if self.slowmo is not None and self.slowmo > MAX_SLOWMO_FACTOR:
            raise UsageError(
                f"slow-motion factor must be at most {MAX_SLOWMO_FACTOR}, got {float(self.slowmo):g}", subject="factor"
            )


@dataclass(frozen=True)
class JobOptions:
    """Everything but the model: timing, scene handling, encoding, streams to copy."""

    retime: Retime
    encode: EncodeSettings = field(default_factory=EncodeSettings)
    scene: SceneSettings = field(default_factory=SceneSettings)
    copy_audio: bool = True  # audio and subtitles, packet copy
    batch_pairs: int | None = None  # None: from the frame size


@dataclass
class JobResult:
    """What happened: counts, time and notes for the summary."""

    output: Path
    frames_in: int = 0
    frames_out: int = 0
    duplicates: int = 0
    cuts: int = 0
    seconds: float = 0.0
    copied_packets: int = 0
    notes: list[str] = field(default_factory=list)


def _decode_thread(reader: VideoReader) -> Iterator[SourceFrame]:
    """Decode in a background thread; errors are re-raised in the consumer."""
    items: queue.Queue = queue.Queue(maxsize=_QUEUE_FRAMES)
    done = object()
    stop = threading.Event()

    def work() -> None:
        try:
            for frame in reader.frames():
                while not stop.is_set():
                    try:
                        items.put(frame, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            items.put(done)
        except BaseException as error:  # handed to the consumer, which raises it
            items.put(error)

    thread = threading.Thread(target=work, name="aprvfi-decode", daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


def is_out_of_memory(error: BaseException) -> bool:
    """True for an allocation failure: Python's MemoryError, torch's (CPU "enforce fail" / CUDA OOM)."""
    if isinstance(error, MemoryError) or type(error).__name__ == "OutOfMemoryError":
        return True
    text = str(error).lower()
    # oneDNN (channels_last convolutions on the CPU) reports a failed workspace allocation as a primitive
    # it could not create
    signs = ("out of memory", "can't allocate memory", "not enough memory", "could not create a primitive")
    return any(words in text for words in signs)


def default_batch_pairs(width: int, height: int) -> int:
    """Pairs per model call: up to 8 small frames, one 1080p or larger frame."""
    return int(max(1, min(8, 2_000_000 // max(1, width * height))))


class PairBatcher:
    """Collects planned output frames with the source frames they need, runs them in order."""

    def __init__(self, interpolator: Interpolator, writer: VideoWriter, pairs: int) -> None:
        self.interpolator = interpolator
        self.writer = writer
        self.pairs = pairs
        # each entry: (frame a, frame b or None, cut between them, planned frames)
        self.pending: list[tuple[np.ndarray, np.ndarray | None, bool, list[OutputFrame]]] = []
        self.written = 0

    def add(self, a: np.ndarray, b: np.ndarray | None, cut: bool, frames: list[OutputFrame]):
        if frames:
            self.pending.append((a, b, cut, frames))
        if sum(self._needs_model(e) for e in self.pending) >= self.pairs:
            self.flush()

    @staticmethod
    def _needs_model(entry) -> bool:
        _, b, cut, frames = entry
        return b is not None and not cut and any(not f.is_copy for f in frames)

    def flush(self) -> None:
        jobs = [e for e in self.pending if self._needs_model(e)]
        made: list[list[np.ndarray]] = []
        if jobs:
            try:
                made = self.interpolator.interpolate_pairs(
                    [e[0] for e in jobs],
                    [e[1] for e in jobs],
                    [[float(f.t) for f in e[3] if not f.is_copy] for e in jobs],
                )
            except (MemoryError, RuntimeError) as error:
                if not is_out_of_memory(error):
                    raise
                height, width = jobs[0][0].shape[:2]
                raise ModelError(
                    f"out of memory interpolating {width}x{height} frames ({len(jobs)} pairs at a time): "
                    "close other programs, use a smaller frame size, or a device with more memory"
                ) from error
        results = iter(made)
        for entry in self.pending:
            a, b, cut, frames = entry
            inner = iter(next(results)) if self._needs_model(entry) else iter(())
            for frame in frames:
                if frame.is_copy or b is None:
                    image = a
                elif cut:
                    # the nearer frame, no blend; the middle keeps the earlier shot (a cut lands on time)
                    image = a if frame.t <= Fraction(1, 2) else b
                else:
                    image = next(inner)
                self.writer.write(image, frame.time)
                self.written += 1
        self.pending = []


def process_video(
    source: Path,
    target: Path,
    *,
    interpolator: Interpolator,
    options: JobOptions,
    progress: Progress | None = None,
) -> JobResult:
    """Retime ``source`` into ``target`` (written atomically, or not at all)."""
    started = time.perf_counter()
    result = JobResult(output=target)
    with VideoReader(source) as reader:
        plan = plan_output(reader, options.retime)
        frames = _decode_thread(reader)
        try:
            _run(
                source=source,
                target=target,
                reader=reader,
                frames=frames,
                plan=plan,
                interpolator=interpolator,
                options=options,
                progress=progress,
                result=result,
            )
        finally:
            frames.close()  # stop the decode thread before the reader's container closes
    result.seconds = time.perf_counter() - started
    return result


@dataclass(frozen=True)
class OutputPlan:
    """The timeline planner and the output's rate (frames/s), time base (s) and frame estimate."""

    planner: RatePlanner | SlowmoPlanner
    rate: Fraction
    time_base: Fraction
    total: int | None


def plan_output(reader: VideoReader, retime: Retime) -> OutputPlan:
    """How ``reader``'s video becomes output frames under ``retime`` (a fresh planner)."""
    source, rate = reader.path, reader.rate
    if reader.declared_frames == 1:
        raise InputError(f"{source} has only one frame: nothing to interpolate")
    if retime.fps is not None:
        planner = RatePlanner(sample_rate=retime.fps)
        out_rate, time_base = retime.fps, 1 / retime.fps
        total = None
        if reader.duration:  # frame count / rate, else the declared duration (MKV, TS...)
            total = ceil(reader.duration * retime.fps)
    else:
        factor = Fraction(retime.slowmo)
        if factor.denominator != 1 and not rate:
            raise InputError(f"{source} has no frame rate; use an integer slow-motion factor", subject="factor")
        planner = make_slowmo_planner(factor=factor, source_rate=rate)
        out_rate = rate or Fraction(25)
        if factor.denominator == 1 and reader.time_base:
            time_base = reader.time_base  # k * pts stays on the source's grid
        else:
            time_base = 1 / out_rate
        total = None
        if reader.declared_frames:
            total = int(reader.declared_frames * factor)
        elif reader.duration and rate:
            total = ceil(reader.duration * rate * factor)
    return OutputPlan(planner=planner, rate=out_rate, time_base=time_base, total=total)


def kept_pairs(
    first: SourceFrame, frames: Iterator[SourceFrame], scene: SceneSettings, result: JobResult
) -> Iterator[tuple[SourceFrame, SourceFrame, bool]]:
    """Consecutive kept frames after ``first``: (previous, next, scene cut between them).

    A frame whose pts does not increase is dropped (it cannot be placed in time), and so is a
    frame that repeats the previous kept one (interpolated across instead of freezing); both
    are counted in ``result``, as are the cuts.
    """
    prev, prev_sig = first, FrameSignature.of(first.image)
    detect_cut = CutDetector(scene)
    disordered = 0
    for frame in frames:
        if frame.pts <= prev.pts:
            disordered += 1
            continue
        sig = FrameSignature.of(frame.image)
        if is_duplicate(prev_sig, sig, scene):
            result.duplicates += 1
            continue
        cut = detect_cut(prev_sig, sig)
        result.cuts += cut
        yield prev, frame, cut
        prev, prev_sig = frame, sig
    if disordered:
        result.notes.append(f"{disordered} frames dropped: timestamps not increasing")


def _run(
    *,
    source: Path,
    target: Path,
    reader: VideoReader,
    frames: Iterator[SourceFrame],
    plan: OutputPlan,
    interpolator: Interpolator,
    options: JobOptions,
    progress: Progress | None,
    result: JobResult,
) -> None:
    """The body of :func:`process_video` once decoding runs (split so the thread always stops)."""
    planner, total = plan.planner, plan.total
    first = next(frames, None)
    if first is None:
        raise InputError(f"{source} has no decodable video frames")
    writer = VideoWriter(
        target,
        width=first.image.shape[1],
        height=first.image.shape[0],
        rate=plan.rate,
        time_base=plan.time_base,
        settings=options.encode,
        source_pix_fmt=reader.pix_fmt,
        high_bit_depth=reader.high_bit_depth,
        color=reader.color,
        rotation=reader.rotation,
        copy_from=source if options.copy_audio else None,
        copy_offset=first.pts,
    )
    with writer:
        batcher = PairBatcher(
            interpolator,
            writer,
            options.batch_pairs or default_batch_pairs(reader.width, reader.height),
        )
        prev: SourceFrame = first
        before_last: Fraction | None = None
        batcher.add(first.image, None, False, planner.push(first.pts))
        for a, b, cut in kept_pairs(first, frames, options.scene, result):
            batcher.add(a.image, b.image, cut, planner.push(b.pts))
            before_last, prev = a.pts, b
            if progress:
                progress(batcher.written, total)
        if reader.frames_decoded < 2:
            raise InputError(f"{source} has only one frame: nothing to interpolate")
        last_pts = _last_decoded_pts(reader, prev)
        end = reader.end_time(last_pts, before_last)
        batcher.add(prev.image, None, False, planner.finish(end))
        batcher.flush()
        if progress:
            progress(batcher.written, batcher.written)
    result.frames_in = reader.frames_decoded
    result.frames_out = writer.frames_written
    result.copied_packets = writer.copied_packets
    result.notes.extend(reader.notes)
    result.notes.extend(writer.notes)


def _last_decoded_pts(reader: VideoReader, last_kept: SourceFrame) -> Fraction:
    """The pts of the last decoded frame (duplicates dropped at the end still count for time)."""
    return reader.last_pts if reader.last_pts is not None else last_kept.pts
