"""Signals that end a run (kill, timeout, a dropped ssh session, docker stop, Ctrl-C).

Python's default SIGTERM/SIGHUP action kills the process at once, so no ``finally`` runs and
the writer's hidden temporary file (``.NAME.aprvfi-PID.part.EXT``) stays forever. Raising
:class:`Terminated` in the main thread instead unwinds the stack: every ``with VideoWriter``
block deletes its temporary file, and the command line prints one line.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

ENDING_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP", "SIGINT") if hasattr(signal, name))


class Terminated(BaseException):  # noqa: N818  (like KeyboardInterrupt: not an Exception, so no handler swallows it)
    """A signal asked the run to end; ``exit_code`` is 128 + the signal number, as shells report."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.name = signal.Signals(signum).name
        self.exit_code = 128 + signum
        super().__init__(f"stopped by {self.name}")

    @property
    def message(self) -> str:
        return f"stopped by {self.name}; the partial output was removed, nothing is left behind"


@contextmanager
def terminate_on_signals(signals: tuple[int, ...] = ENDING_SIGNALS) -> Iterator[None]:
    """Within the block, ``signals`` raise :class:`Terminated` in the main thread.

    After the first one, further signals are ignored so the clean-up itself is not cut short.
    Signals already ignored (``nohup`` ignores SIGHUP, ``&`` in a script ignores SIGINT) stay ignored.
    The previous handlers come back on exit. Outside the main thread this does nothing (Python
    only lets the main thread set handlers).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        for other in signals:
            signal.signal(other, signal.SIG_IGN)
        raise Terminated(signum)

    previous = {s: signal.getsignal(s) for s in signals}
    for s in signals:
        # a signal ignored when we started stays ignored: `nohup aprvfi ...` must survive the logout
        if previous[s] is not signal.SIG_IGN:
            signal.signal(s, handle)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)
