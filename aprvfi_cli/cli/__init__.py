"""The command line: the only package that imports Typer or writes to the terminal.

One module per command group over the library (``engine``, ``video``, ``train``, ``eval``,
``cluster``), which never imports this package. :func:`main` is the ``aprvfi`` entry point.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["main"]

if TYPE_CHECKING:
    from aprvfi_cli.cli.root import main


def __getattr__(name: str) -> Any:
    # `aprvfi_cli.cli:main` (the entry point) without importing the app for every submodule
    if name in ("main", "app"):
        from aprvfi_cli.cli import root

        return getattr(root, name)
    raise AttributeError(f"module 'aprvfi_cli.cli' has no attribute {name!r}")
