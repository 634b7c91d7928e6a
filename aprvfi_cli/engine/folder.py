"""``aprvfi batch``: every video of a folder, resumable, one failure does not stop the rest."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from aprvfi_cli.errors import AprvfiError, UsageError

if TYPE_CHECKING:
    from aprvfi_cli.engine.interpolator import Interpolator
    from aprvfi_cli.engine.stream import JobResult, Retime

OUTPUT_FOLDER = "aprvfi-output"


def find_videos(folder: Path, *, recursive: bool, exclude: Path | None) -> list[Path]:
    """Video files under ``folder`` by extension, sorted; hidden files and ``exclude`` skipped."""
    from aprvfi_cli.console import VIDEO_SUFFIXES

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
    from aprvfi_cli.console import default_output

    relative = source.parent.relative_to(folder)
    return default_output(source, tag=tag, folder=out_dir / relative)


def run_batch(
    folder: Path,
    out_dir: Path | None,
    *,
    retime: Retime,
    recursive: bool,
    overwrite: bool,
    quiet: bool,
    load: Callable[[], Interpolator],
    run: Callable[[Path, Path, Interpolator], JobResult],
) -> int:
    """Process every clip; prints the summary table; returns the number of failures.

    ``load`` builds the interpolator (called once, on the first clip to do); ``run(source,
    target, interpolator)`` processes one clip.
    """
    from aprvfi_cli.console import check_output, format_rate, note, print_table, summary_table

    out_dir = out_dir or folder / OUTPUT_FOLDER
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"output folder is a file: {out_dir}")
    tag = f"{format_rate(retime.fps)}fps" if retime.fps else f"slowmo{format_rate(retime.slowmo)}x"
    clips = find_videos(folder, recursive=recursive, exclude=out_dir.resolve())
    if not clips:
        raise UsageError(f"no video files in {folder}")
    rows: list[tuple[str, object, str]] = []
    interpolator = None
    failed = 0
    for source in clips:
        name = str(source.relative_to(folder))
        target = output_for(source, folder=folder, out_dir=out_dir, tag=tag)
        if target.exists() and not overwrite:
            rows.append((name, None, "skipped (output exists)"))
            continue
        if interpolator is None:
            interpolator = load()  # loaded once, on the first clip to do; its errors are fatal
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            check_output(source, target, overwrite=overwrite)
            result = run(source, target, interpolator)
            rows.append((name, result, "ok"))
        except AprvfiError as error:
            failed += 1
            rows.append((name, None, f"failed: {error.message}"))
        except OSError as error:
            failed += 1
            rows.append((name, None, f"failed: {error.strerror or error}"))
        except Exception as error:  # an unforeseen failure of one clip must not stop the rest
            failed += 1
            text = " ".join(str(error).split())
            rows.append((name, None, f"failed: unexpected {type(error).__name__}: {text}"))
    if interpolator is not None:
        note(f"interpolated with {interpolator.describe()}", quiet=quiet)
    if retime.slowmo is not None:
        note("audio dropped (slow motion)", quiet=quiet)
    print_table(summary_table(rows))
    return failed
