"""Terminal side of the CLI: the progress bar, notes, output names and checks, and the batch table."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from aprvfi_cli.errors import OutputError, UsageError

if TYPE_CHECKING:  # types only: the terminal helpers load no torch
    from aprvfi_cli.engine.stream import JobResult
    from aprvfi_cli.engine.stream import Progress as ProgressCallback

VIDEO_SUFFIXES = {
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".mts",
    ".m2ts", ".wmv", ".flv", ".3gp", ".ogv",
}  # fmt: skip
_KEEP_SUFFIXES = {".mp4", ".mov", ".mkv", ".m4v"}  # containers that take H.264/H.265/AV1


def note(message: str, *, quiet: bool) -> None:
    """One line on stderr, unless --quiet."""
    if not quiet:
        print(f"aprvfi: note: {message}", file=sys.stderr)


def format_rate(rate: Fraction) -> str:
    """60 -> "60", 60000/1001 -> "59.94", 12.5 -> "12.5" (for file names)."""
    if rate.denominator == 1:
        return str(rate.numerator)
    return f"{float(rate):.3f}".rstrip("0").rstrip(".")


def output_suffix(source: Path) -> str:
    return source.suffix.lower() if source.suffix.lower() in _KEEP_SUFFIXES else ".mp4"


def default_output(source: Path, *, tag: str, folder: Path | None = None) -> Path:
    """``clip.mp4`` -> ``clip.<tag>.mp4`` beside the source (or in ``folder``)."""
    return (folder or source.parent) / f"{source.stem}.{tag}{output_suffix(source)}"


def check_output(source: Path, target: Path, *, overwrite: bool) -> None:
    """Refuse to overwrite the input or an existing file; the folder must exist and be writable."""
    if target.exists() and source.exists() and os.path.samefile(source, target):
        raise UsageError(f"output is the input file: {target}")
    if target.resolve() == source.resolve():
        raise UsageError(f"output is the input file: {target}")
    if target.is_dir():
        raise UsageError(f"output is a directory: {target}")
    if target.exists() and not overwrite:
        raise UsageError(f"output exists: {target} (use --overwrite to replace it)")
    folder = target.parent
    if not folder.is_dir():
        raise OutputError(f"output folder does not exist or is not a folder: {folder}")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"output folder is not writable: {folder}")


class _FpsColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.1f} fps" if speed else "-- fps")


@contextmanager
def progress_bar(label: str, *, quiet: bool) -> Iterator[ProgressCallback | None]:
    """A rich bar on a terminal (frames done/total, fps, ETA); nothing otherwise."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    console = Console(stderr=True)
    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        _FpsColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=max(total, done) if total else None)

        yield update


def summary_table(rows: list[tuple[str, JobResult | None, str]]) -> Table:
    """The batch summary: clip, frames in/out, seconds, status."""
    table = Table(title="aprvfi batch")
    for name, justify in (
        ("clip", "left"),
        ("frames in", "right"),
        ("frames out", "right"),
        ("seconds", "right"),
        ("status", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for clip, result, status in rows:
        if result is None:
            table.add_row(clip, "-", "-", "-", status)
        else:
            table.add_row(
                clip,
                str(result.frames_in),
                str(result.frames_out),
                f"{result.seconds:.1f}",
                status,
            )
    return table


def print_table(table: Table) -> None:
    Console(file=sys.stdout, width=120).print(table)
