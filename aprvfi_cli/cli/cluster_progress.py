"""The driver's progress display for a batch on the cluster: clips and frames done, all workers."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

ClusterProgress = Callable[[int, int], None]  # (clips done, frames written)


@contextmanager
def cluster_progress(clips: int, *, quiet: bool) -> Iterator[ClusterProgress | None]:
    """Two bars on a terminal (clips done of ``clips``, frames written so far); nothing otherwise."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=Console(stderr=True)) as bar:
        clip_task = bar.add_task("clips", total=clips)
        frame_task = bar.add_task("frames (all workers)", total=None)

        def update(clips_done: int, frames: int) -> None:
            bar.update(clip_task, completed=clips_done)
            bar.update(frame_task, completed=frames)

        yield update
