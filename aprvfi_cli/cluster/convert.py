"""One long video across workers: plan once, render segments anywhere, join by remuxing.

The driver decodes the source once to plan the whole timeline (the same decisions as a local
run), cuts it at keyframes (scene cuts preferred), has the workers render and encode their
segments beside the target, then remuxes them into the target with the audio muxed once.
Segment files are hidden and named after the job; whatever happens, none outlives the job.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

from aprvfi_cli.cluster.dispatch import run_on_workers
from aprvfi_cli.cluster.join import join_segments
from aprvfi_cli.cluster.plan import SourcePlan, scan_source
from aprvfi_cli.cluster.render import SegmentJob
from aprvfi_cli.cluster.segments import Segment, split_plan
from aprvfi_cli.cluster.worker import WorkerPool
from aprvfi_cli.engine.stream import JobOptions, JobResult

# segments per worker: more balances uneven speeds, fewer costs less seeking and joining
SEGMENTS_PER_WORKER = 3
# ... and no segment shorter than this many source frames
MIN_SEGMENT_FRAMES = 16


def segment_count(workers: int, kept_frames: int) -> int:
    """How many segments to aim for (fewer come out where keyframes are sparse)."""
    return max(1, min(workers * SEGMENTS_PER_WORKER, kept_frames // MIN_SEGMENT_FRAMES))


def part_path(target: Path, job: str, index: int) -> Path:
    """Segment ``index`` of ``job``: a hidden MP4 beside the target."""
    return target.with_name(f".{target.stem}.aprvfi-ray-{job}.{index:04d}.mp4")


def remove_parts(target: Path, job: str) -> None:
    """Every file of ``job`` beside the target: segments and a killed worker's temporary files."""
    for path in target.parent.glob(f".*.aprvfi-ray-{job}.*"):
        path.unlink(missing_ok=True)


def convert_on_cluster(
    source: Path,
    target: Path,
    *,
    pool: WorkerPool,
    options: JobOptions,
    segments: int | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    plan: SourcePlan | None = None,
) -> JobResult:
    """Retime ``source`` into ``target`` (written atomically) on the workers of ``pool``.

    ``segments``: how many to cut (None: :func:`segment_count`); ``progress(frames_done,
    frames_total)`` is called on the driver while the workers run; ``plan``: the source already
    planned by :func:`scan_source` with the same options (None: planned here). Raises what the local run
    raises for the same input (a segment's error fails the job), :class:`ClusterError` if the
    workers are lost.
    """
    started = time.perf_counter()
    plan = plan or scan_source(source, options)
    count = segments or segment_count(len(pool.actors), len(plan.kept))
    parts = [s for s in split_plan(plan, count) if s.outputs]
    job = uuid.uuid4().hex[:12]
    total = len(plan.outputs)
    before = pool.frames_written()
    written: dict[int, int] = {}

    def done(segment: Segment, frames: object) -> None:
        written[segment.index] = int(frames)  # type: ignore[call-overload]

    def failed(_segment: Segment, error: BaseException) -> None:
        raise error  # one bad segment fails the job (the others are stopped)

    def tick() -> None:
        if progress:
            progress(pool.frames_written() - before, total)

    def call(worker, segment: Segment):
        return worker.render.remote(SegmentJob(source, part_path(target, job, segment.index), segment,
                                               plan.stream, options))  # fmt: skip

    try:
        run_on_workers(pool, parts, call, done=done, failed=failed, tick=tick)
        copied, notes = join_segments(
            [(part_path(target, job, s.index), s.outputs[0].time) for s in parts],
            target,
            stream=plan.stream,
            copy_from=source if options.copy_audio else None,
        )
    finally:
        remove_parts(target, job)
    if progress:
        progress(total, total)
    return JobResult(
        output=target,
        frames_in=plan.frames_in,
        frames_out=sum(written.values()),
        duplicates=plan.duplicates,
        cuts=len(plan.cuts),
        seconds=time.perf_counter() - started,
        copied_packets=copied,
        notes=[*plan.notes, *notes, f"{len(parts)} segments on {len(pool.actors)} Ray workers"],
    )
