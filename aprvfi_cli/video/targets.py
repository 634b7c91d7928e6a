"""Where an output goes: its default name beside the source, and the checks made before anything is written."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

from aprvfi_cli.errors import OutputError, UsageError

VIDEO_SUFFIXES = {
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".mts",
    ".m2ts", ".wmv", ".flv", ".3gp", ".ogv",
}  # fmt: skip
_KEEP_SUFFIXES = {".mp4", ".mov", ".mkv", ".m4v"}  # containers that take H.264/H.265/AV1


def format_rate(rate: Fraction) -> str:
    """60 -> "60", 60000/1001 -> "59.94", 12.5 -> "12.5" (for file names)."""
    if rate.denominator == 1:
        return str(rate.numerator)
    return f"{float(rate):.3f}".rstrip("0").rstrip(".")


def output_suffix(source: Path) -> str:
    """The source's container when it holds the output codecs (MP4, MOV, MKV, M4V), else ``.mp4``."""
    return source.suffix.lower() if source.suffix.lower() in _KEEP_SUFFIXES else ".mp4"


def default_output(source: Path, *, tag: str, folder: Path | None = None) -> Path:
    """``clip.mp4`` -> ``clip.<tag>.mp4`` beside the source (or in ``folder``); ``clip.mkv`` -> ``clip.<tag>.mkv``."""
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
