"""Errors the user can act on: one line of text and an exit code (2 usage, 1 failure).

The CLI catches :class:`AprvfiError` (and everything else) at its edge and prints
``aprvfi: error: <message>`` on stderr, never a traceback.
"""

from __future__ import annotations


class AprvfiError(Exception):
    """Base class: ``message`` is shown as is; ``exit_code`` is the process exit status."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))  # one line, whatever the cause said

    @property
    def message(self) -> str:
        return str(self)


class UsageError(AprvfiError):
    """The command line asks for something impossible (bad option value, wrong path)."""

    exit_code = 2


class InputError(AprvfiError):
    """The input file cannot be used (not a video, audio only, too short, corrupt)."""


class OutputError(AprvfiError):
    """The output cannot be written (folder not writable, disk full, encoder failure)."""


class ModelError(AprvfiError):
    """The model or its weights cannot be loaded, or the device is unavailable."""


def describe_os_error(error: OSError, *, path: object) -> str:
    """A one-line description of ``error`` that names ``path``."""
    reason = error.strerror or error.__class__.__name__
    return f"{reason}: {path}"
