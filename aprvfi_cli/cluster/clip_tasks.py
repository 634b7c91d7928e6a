"""``aprvfi batch --ray``: every clip of a folder is a call on a worker actor.

The same clips, output names, resume (finished outputs skipped) and rows as the local batch
(:mod:`aprvfi_cli.engine.folder`); a clip that fails is a row, not the end.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from aprvfi_cli.cluster.dispatch import run_on_workers
from aprvfi_cli.cluster.worker import WorkerPool
from aprvfi_cli.engine.folder import SKIPPED, ClipRow, FolderRun, failure_status, plan_clips, prepare_target
from aprvfi_cli.engine.stream import JobOptions
from aprvfi_cli.errors import AprvfiError

ClusterProgress = Callable[[int, int], None]  # (clips done, frames written by all workers)
ProgressDisplay = Callable[[int], AbstractContextManager[ClusterProgress | None]]  # clips to do -> display


def batch_on_cluster(
    folder: Path,
    out_dir: Path | None,
    *,
    open_workers: Callable[[int], WorkerPool],
    options: JobOptions,
    description: str,
    recursive: bool,
    overwrite: bool,
    display: ProgressDisplay,
) -> FolderRun:
    """Process every clip on the cluster.

    ``open_workers(n)`` starts the workers (at most n) once there is a clip to do;
    ``description`` names the interpolator; ``display(n)`` shows the progress of n clips.
    """
    rows = plan_clips(folder, out_dir, retime=options.retime, recursive=recursive, overwrite=overwrite)
    todo = []
    for row in rows:
        if row.status == SKIPPED:
            continue
        try:
            prepare_target(row, overwrite=overwrite)
            todo.append(row)
        except (AprvfiError, OSError) as error:
            row.status = failure_status(error)
    if not todo:
        return FolderRun(rows, None)
    with open_workers(len(todo)) as pool:
        _run(todo, pool=pool, options=options, display=display)
    return FolderRun(rows, description)


def _run(todo: list[ClipRow], *, pool: WorkerPool, options: JobOptions, display: ProgressDisplay) -> None:
    """Every clip of ``todo`` on the workers; each ends with a result or a failure status."""
    ended = 0
    before = pool.frames_written()

    def done(clip: ClipRow, result: object) -> None:
        nonlocal ended
        clip.result, clip.status, ended = result, "ok", ended + 1  # type: ignore[assignment]

    def failed(clip: ClipRow, error: BaseException) -> None:
        nonlocal ended
        clip.status, ended = failure_status(error), ended + 1

    try:
        with display(len(todo)) as progress:

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
