"""Terminal side of the CLI: notes, the progress bar, the batch table."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
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

if TYPE_CHECKING:  # types only: the terminal helpers load no torch
    from aprvfi_cli.engine.stream import JobResult
    from aprvfi_cli.engine.stream import Progress as ProgressCallback


def note(message: str, *, quiet: bool) -> None:
    """One line on stderr, unless --quiet."""
    if not quiet:
        print(f"aprvfi: note: {message}", file=sys.stderr)


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
