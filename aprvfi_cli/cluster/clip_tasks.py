"""``aprvfi batch --ray``: every clip of a folder is a call on a worker actor.

The same clips, output names, resume (finished outputs skipped), summary table and failure
count as the local batch (``aprvfi_cli/batch.py``); a clip that fails is a row, not the end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aprvfi_cli.batch import OUTPUT_FOLDER, find_videos, output_for
from aprvfi_cli.cluster.dispatch import run_on_workers
from aprvfi_cli.cluster.display import cluster_progress
from aprvfi_cli.cluster.worker import WorkerPool
from aprvfi_cli.engine.stream import JobOptions, JobResult
from aprvfi_cli.errors import AprvfiError, UsageError


@dataclass
class _Clip:
    """One clip to do: its row name, paths and, once ended, its result or failure."""

    name: str
    source: Path
    target: Path
    result: JobResult | None = None
    status: str = ""


def _status(error: BaseException) -> str:
    """The row's status for a clip that failed, in the local batch's words."""
    if isinstance(error, AprvfiError):
        return f"failed: {error.message}"
    if isinstance(error, OSError):
        return f"failed: {error.strerror or error}"
    text = " ".join(str(error).split())
    return f"failed: unexpected {type(error).__name__}: {text}"


def batch_on_cluster(
    folder: Path,
    out_dir: Path | None,
    *,
    open_workers: Callable[[int], WorkerPool],
    options: JobOptions,
    description: str,
    recursive: bool,
    overwrite: bool,
    quiet: bool,
) -> int:
    """Process every clip on the cluster; prints the summary table; returns the number of failures.

    ``open_workers(n)`` starts the workers (at most n) once there is a clip to do; ``description``
    names the interpolator (the note the local batch prints).
    """
    from aprvfi_cli.console import check_output, format_rate, note, print_table, summary_table

    out_dir = out_dir or folder / OUTPUT_FOLDER
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"output folder is a file: {out_dir}")
    retime = options.retime
    tag = f"{format_rate(retime.fps)}fps" if retime.fps else f"slowmo{format_rate(retime.slowmo)}x"
    sources = find_videos(folder, recursive=recursive, exclude=out_dir.resolve())
    if not sources:
        raise UsageError(f"no video files in {folder}")
    clips = [
        _Clip(str(s.relative_to(folder)), s, output_for(s, folder=folder, out_dir=out_dir, tag=tag)) for s in sources
    ]
    todo = []
    for clip in clips:
        if clip.target.exists() and not overwrite:
            clip.status = "skipped (output exists)"
            continue
        try:
            clip.target.parent.mkdir(parents=True, exist_ok=True)
            check_output(clip.source, clip.target, overwrite=overwrite)
            todo.append(clip)
        except (AprvfiError, OSError) as error:
            clip.status = _status(error)
    if todo:
        with open_workers(len(todo)) as pool:
            _run(todo, pool=pool, options=options, quiet=quiet)
        note(f"interpolated with {description}", quiet=quiet)
    if retime.slowmo is not None:
        note("audio dropped (slow motion)", quiet=quiet)
    print_table(summary_table([(c.name, c.result, c.status) for c in clips]))
    return sum(c.status.startswith("failed") for c in clips)


def _run(todo: list[_Clip], *, pool: WorkerPool, options: JobOptions, quiet: bool) -> None:
    """Every clip of ``todo`` on the workers; each ends with a result or a failure status."""
    ended = 0
    before = pool.frames_written()

    def done(clip: _Clip, result: object) -> None:
        nonlocal ended
        clip.result, clip.status, ended = result, "ok", ended + 1  # type: ignore[assignment]

    def failed(clip: _Clip, error: BaseException) -> None:
        nonlocal ended
        clip.status, ended = _status(error), ended + 1

    try:
        with cluster_progress(len(todo), quiet=quiet) as progress:

            def tick() -> None:
                if progress:
                    progress(ended, pool.frames_written() - before)

            run_on_workers(
                pool,
                todo,
                lambda worker, clip: worker.convert.remote(clip.source, clip.target, options),
                done=done,
                failed=failed,
                tick=tick,
            )
    finally:
        for clip in todo:  # a worker killed mid-clip (then retried, or not) leaves its temporary file
            _remove_temporaries(clip.target)


def _remove_temporaries(target: Path) -> None:
    """The hidden temporary files of ``target`` (``video/writer.py`` names them after the target)."""
    for path in target.parent.glob(f".{target.stem}.aprvfi-*.part{target.suffix}"):
        path.unlink(missing_ok=True)
