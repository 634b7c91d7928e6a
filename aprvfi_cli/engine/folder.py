"""A folder of videos (``aprvfi batch``): which clips, their output names, resume, and failures
that do not stop the rest. Clips run here one after another (:func:`run_folder`), or each as a
task on a cluster's workers (``cluster/clip_tasks.py``) from the same :func:`plan_clips`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from aprvfi_cli.errors import AprvfiError, UsageError
from aprvfi_cli.video.targets import VIDEO_SUFFIXES, check_output, default_output, format_rate

if TYPE_CHECKING:
    from aprvfi_cli.engine.interpolator import Interpolator
    from aprvfi_cli.engine.stream import JobResult, Retime

OUTPUT_FOLDER = "aprvfi-output"
SKIPPED = "skipped (output exists)"


@dataclass
class ClipRow:
    """One clip of the folder: its name (relative to the folder), paths and, once ended, its
    result and status (``ok``, ``skipped (output exists)`` or ``failed: <why>``)."""

    name: str
    source: Path
    target: Path
    result: JobResult | None = None
    status: str = ""

    @property
    def failed(self) -> bool:
        return self.status.startswith("failed")


@dataclass(frozen=True)
class FolderRun:
    """Every clip's row, and what interpolated them (None when no clip ran)."""

    rows: list[ClipRow]
    description: str | None

    @property
    def failures(self) -> int:
        return sum(row.failed for row in self.rows)


def find_videos(folder: Path, *, recursive: bool, exclude: Path | None) -> list[Path]:
    """Video files under ``folder`` by extension, sorted; hidden files and ``exclude`` skipped."""
    pattern = "**/*" if recursive else "*"
    found = []
    for path in sorted(folder.glob(pattern)):
        if not path.is_file() or path.name.startswith(".") or path.suffix.lower() not in VIDEO_SUFFIXES:
            continue
        if exclude is not None and exclude in path.resolve().parents:
            continue
        found.append(path)
    return found


def output_for(source: Path, *, folder: Path, out_dir: Path, tag: str) -> Path:
    """The output path of ``source``: same relative sub-folder under ``out_dir``."""
    relative = source.parent.relative_to(folder)
    return default_output(source, tag=tag, folder=out_dir / relative)


def failure_status(error: BaseException) -> str:
    """The row's status for a clip that failed: the error's own words."""
    if isinstance(error, AprvfiError):
        return f"failed: {error.message}"
    if isinstance(error, OSError):
        return f"failed: {error.strerror or error}"
    text = " ".join(str(error).split())
    return f"failed: unexpected {type(error).__name__}: {text}"


def plan_clips(
    folder: Path, out_dir: Path | None, *, retime: Retime, recursive: bool, overwrite: bool
) -> list[ClipRow]:
    """A row per video of ``folder``; those whose output exists are already ``skipped`` (unless ``overwrite``).

    ``out_dir``: None is ``folder/aprvfi-output``. Raises :class:`UsageError` when the output
    folder is a file or the folder holds no video.
    """
    out_dir = out_dir or folder / OUTPUT_FOLDER
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"output folder is a file: {out_dir}")
    tag = f"{format_rate(retime.fps)}fps" if retime.fps else f"slowmo{format_rate(retime.slowmo)}x"
    sources = find_videos(folder, recursive=recursive, exclude=out_dir.resolve())
    if not sources:
        raise UsageError(f"no video files in {folder}")
    rows = [
        ClipRow(str(s.relative_to(folder)), s, output_for(s, folder=folder, out_dir=out_dir, tag=tag)) for s in sources
    ]
    for row in rows:
        if row.target.exists() and not overwrite:
            row.status = SKIPPED
    return rows


def prepare_target(row: ClipRow, *, overwrite: bool) -> None:
    """Make the clip's output folder and check its output (as a single-video run does)."""
    row.target.parent.mkdir(parents=True, exist_ok=True)
    check_output(row.source, row.target, overwrite=overwrite)


def run_folder(
    folder: Path,
    out_dir: Path | None,
    *,
    retime: Retime,
    recursive: bool,
    overwrite: bool,
    load: Callable[[], Interpolator],
    run: Callable[[Path, Path, Interpolator], JobResult],
) -> FolderRun:
    """Process every clip here, one after another.

    ``load`` builds the interpolator (called once, on the first clip to do; its errors are
    fatal); ``run(source, target, interpolator)`` processes one clip, whose failure is its row's.
    """
    rows = plan_clips(folder, out_dir, retime=retime, recursive=recursive, overwrite=overwrite)
    interpolator = None
    for row in rows:
        if row.status == SKIPPED:
            continue
        if interpolator is None:
            interpolator = load()
        try:
            prepare_target(row, overwrite=overwrite)
            row.result, row.status = run(row.source, row.target, interpolator), "ok"
        except Exception as error:  # an unforeseen failure of one clip must not stop the rest
            row.status = failure_status(error)
    return FolderRun(rows, None if interpolator is None else interpolator.describe())
