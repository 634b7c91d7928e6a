"""The driver's progress display for a batch on the cluster: clips and frames done, all workers."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def cluster_progress(*, quiet: bool) -> Callable[[int], AbstractContextManager[Callable[[int, int], None] | None]]:
    """The display for ``batch_on_cluster``: given the clips to do, two bars on a terminal
    (clips done, frames written so far), nothing otherwise or with ``quiet``."""

    @contextmanager
    def display(clips: int) -> Iterator[Callable[[int, int], None] | None]:
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

    return display
