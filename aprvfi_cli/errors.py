"""Errors the user can act on: one line of text and an exit code (2 usage, 1 failure).

Library code speaks the domain ("frame rate must be positive") and may name what the error is
about in ``subject`` (``"fps"``, ``"device"``...); the CLI catches :class:`AprvfiError` at its
edge, puts the matching flag name in front, and prints ``aprvfi: error: <message>`` on stderr,
never a traceback.
"""

from __future__ import annotations


class AprvfiError(Exception):
    """Base class: ``message`` is shown as is; ``exit_code`` is the process exit status.

    ``subject``: the setting the error is about (a domain word such as ``fps``, ``device``,
    ``precision``, ``route``, ``preset``, ``codec``), or None.
    """

    exit_code = 1

    def __init__(self, message: str, *, subject: str | None = None) -> None:
        super().__init__(" ".join(str(message).split()))  # one line, whatever the cause said
        self.subject = subject

    @property
    def message(self) -> str:
        return str(self)


class UsageError(AprvfiError):
    """The request is impossible (bad setting value, wrong path)."""

    exit_code = 2


class InputError(AprvfiError):
    """The input file cannot be used (not a video, audio only, too short, corrupt)."""


class OutputError(AprvfiError):
    """The output cannot be written (folder not writable, disk full, encoder failure)."""


class ModelError(AprvfiError):
    """The model or its weights cannot be loaded, or the device is unavailable."""
