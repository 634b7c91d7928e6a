"""``aprvfi slowmo``, ``convert``, ``batch`` and ``info``: a video in (or a folder of them), a video out.

Each turns the user's words into a model (:func:`~aprvfi_cli.cli.options.load_interpolator`) and
job options once, and passes them down to :mod:`aprvfi_cli.engine`. What a command runs is
imported in its body, so ``--help`` loads no torch.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Annotated

import typer

from aprvfi_cli.cli.options import (
    EncoderOptions,
    Fps,
    ModelOptions,
    Output,
    Overwrite,
    PlacementOptions,
    Quiet,
    RayAddress,
    load_interpolator,
    with_options,
)
from aprvfi_cli.errors import InputError, UsageError


def parse_factor(text: str, *, flag: str = "--factor") -> Fraction:
    """``--factor`` (``--multi``, ``--slowmo``): a number > 1 such as 2, 2.5 or 5/2."""
    try:
        factor = Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        raise UsageError(f"{flag} must be a number greater than 1, got {text!r}") from None
    if factor <= 1:
        raise UsageError(f"{flag} must be greater than 1, got {text!r}")
    from aprvfi_cli.video.timeline import MAX_SLOWMO_FACTOR

    if factor > MAX_SLOWMO_FACTOR:
        raise UsageError(f"{flag} must be at most {MAX_SLOWMO_FACTOR}, got {text!r}")
    return factor


def parse_fps(text: str) -> Fraction:
    from aprvfi_cli.video.timeline import parse_rate

    try:
        return parse_rate(text)
    except ValueError as error:
        raise UsageError(f"--fps: {error}") from None


def parse_rate_or_factor(fps: str | None, factor: str | None, *, flag: str) -> tuple[Fraction | None, Fraction | None]:
    """Exactly one of ``--fps RATE`` and ``FLAG K``: (rate, None) or (None, K)."""
    if (fps is None) == (factor is None):
        raise UsageError(f"give exactly one of --fps RATE and {flag} K")
    return (parse_fps(fps), None) if fps is not None else (None, parse_factor(factor, flag=flag))


def _job_options(encoder: EncoderOptions, *, fps: Fraction | None, slowmo: Fraction | None, audio: bool):
    from aprvfi_cli.engine.stream import JobOptions, Retime
    from aprvfi_cli.video.scene import SceneSettings
    from aprvfi_cli.video.writer import EncodeSettings, check_preset, resolve_encoder

    check_preset(resolve_encoder(encoder.codec), encoder.preset)  # usage errors before any work
    if not 0 <= encoder.scene_threshold <= 1:
        raise UsageError("--scene-threshold must lie in [0, 1]")
    return JobOptions(
        retime=Retime(fps=fps, slowmo=slowmo),
        encode=EncodeSettings(codec=encoder.codec, crf=encoder.crf, preset=encoder.preset, pix_fmt=encoder.pix_fmt),
        scene=SceneSettings(cut_threshold=encoder.scene_threshold),
        copy_audio=audio,
    )


def _check_target(target: Path, encoder: EncoderOptions) -> None:
    """The output's extension must name a container that holds the codec (before any work)."""
    from aprvfi_cli.video.writer import output_format, resolve_encoder

    output_format(target, resolve_encoder(encoder.codec))


def _run_one(source: Path, target: Path, *, options, interpolator, quiet: bool) -> object:
    from aprvfi_cli.cli.console import progress_bar
    from aprvfi_cli.engine.stream import process_video

    with progress_bar(source.name, quiet=quiet) as progress:
        return process_video(source, target, interpolator=interpolator, options=options, progress=progress)


def _report(result, description: str, *, quiet: bool, extra: list[str]) -> None:
    from aprvfi_cli.cli.console import note

    note(f"interpolated with {description}", quiet=quiet)
    for line in [*extra, *result.notes]:
        note(line, quiet=quiet)
    if result.duplicates or result.cuts:
        note(f"{result.duplicates} duplicate frames skipped, {result.cuts} scene cuts", quiet=quiet)
    if not quiet:
        print(f"{result.output}: {result.frames_in} frames in, {result.frames_out} out, {result.seconds:.1f} s")


def _check_input(source: Path) -> None:
    from aprvfi_cli.video.reader import check_input_path

    check_input_path(source)


@with_options(model=ModelOptions, placement=PlacementOptions, encoder=EncoderOptions)
def slowmo(
    input: Annotated[Path, typer.Argument(help="Video file.")],
    model: ModelOptions,
    placement: PlacementOptions,
    encoder: EncoderOptions,
    output: Output = None,
    factor: Annotated[str, typer.Option("--factor", "-k", help="Slow down by K (> 1).")] = "2",
    keep_audio: Annotated[
        bool, typer.Option("--keep-audio", help="Copy the audio unchanged (it will not match).")
    ] = False,
    ray: RayAddress = None,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
) -> None:
    """Slow motion: K-1 new frames between every pair, same playback frame rate."""
    from aprvfi_cli.video.targets import check_output, default_output, format_rate

    k = parse_factor(factor)
    _check_input(input)
    target = output or default_output(input, tag=f"slowmo{format_rate(k)}x")
    check_output(input, target, overwrite=overwrite)
    _check_target(target, encoder)
    options = _job_options(encoder, fps=None, slowmo=k, audio=keep_audio)
    result, description = _run_video(
        input, target, model=model, placement=placement, options=options, ray=ray, quiet=quiet
    )
    extra = [] if keep_audio else ["audio dropped (slow motion); --keep-audio copies it unchanged"]
    _report(result, description, quiet=quiet, extra=extra)


@with_options(model=ModelOptions, placement=PlacementOptions, encoder=EncoderOptions)
def convert(
    input: Annotated[Path, typer.Argument(help="Video file.")],
    model: ModelOptions,
    placement: PlacementOptions,
    encoder: EncoderOptions,
    fps: Fps = None,
    multi: Annotated[str | None, typer.Option("--multi", help="Target = source rate x K.")] = None,
    output: Output = None,
    no_audio: Annotated[bool, typer.Option("--no-audio", help="Drop audio and subtitles.")] = False,
    ray: RayAddress = None,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
) -> None:
    """Frame-rate conversion: same duration, audio copied and in sync."""
    from aprvfi_cli.video.targets import check_output, default_output, format_rate

    rate, k = parse_rate_or_factor(fps, multi, flag="--multi")
    _check_input(input)
    if rate is None:
        rate = _source_rate(input) * k
    target = output or default_output(input, tag=f"{format_rate(rate)}fps")
    check_output(input, target, overwrite=overwrite)
    _check_target(target, encoder)
    options = _job_options(encoder, fps=rate, slowmo=None, audio=not no_audio)
    result, description = _run_video(
        input, target, model=model, placement=placement, options=options, ray=ray, quiet=quiet
    )
    _report(result, description, quiet=quiet, extra=[])


def _run_video(
    source: Path,
    target: Path,
    *,
    model: ModelOptions,
    placement: PlacementOptions,
    options,
    ray: str | None,
    quiet: bool,
):
    """One video here, or across the workers of a Ray cluster (``--ray``): (result, interpolator description)."""
    if ray is not None:
        from aprvfi_cli.cli.ray_runs import convert_on_ray

        return convert_on_ray(source, target, model=model, placement=placement, options=options, ray=ray, quiet=quiet)
    interpolator = load_interpolator(model, placement)
    return _run_one(source, target, options=options, interpolator=interpolator, quiet=quiet), interpolator.describe()


def _source_rate(source: Path) -> Fraction:
    from aprvfi_cli.video.reader import VideoReader

    with VideoReader(source) as reader:
        if not reader.rate:
            raise InputError(f"{source} declares no frame rate; use --fps")
        return reader.rate


@with_options(model=ModelOptions, placement=PlacementOptions, encoder=EncoderOptions)
def batch(
    folder: Annotated[Path, typer.Argument(help="Folder of videos.")],
    model: ModelOptions,
    placement: PlacementOptions,
    encoder: EncoderOptions,
    fps: Fps = None,
    slowmo_k: Annotated[str | None, typer.Option("--slowmo", help="Slow every clip down by K.")] = None,
    output_dir: Annotated[Path | None, typer.Option("-o", "--output-dir", help="Output folder.")] = None,
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Include sub-folders.")] = False,
    ray: RayAddress = None,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
) -> None:
    """Every video in a folder; finished outputs are skipped, so a rerun resumes."""
    rate, k = parse_rate_or_factor(fps, slowmo_k, flag="--slowmo")
    if not folder.exists():
        raise UsageError(f"folder not found: {folder}")
    if not folder.is_dir():
        raise UsageError(f"not a folder: {folder}")
    options = _job_options(encoder, fps=rate, slowmo=k, audio=rate is not None)
    if ray is not None:  # every clip a task on the cluster's workers
        from aprvfi_cli.cli.ray_runs import batch_on_ray

        run = batch_on_ray(folder, output_dir, model=model, placement=placement, options=options, ray=ray,
                           recursive=recursive, overwrite=overwrite, quiet=quiet)  # fmt: skip
    else:
        from aprvfi_cli.engine.folder import run_folder

        def one(source: Path, target: Path, interpolator) -> object:
            return _run_one(source, target, options=options, interpolator=interpolator, quiet=quiet)

        run = run_folder(folder, output_dir, retime=options.retime, recursive=recursive, overwrite=overwrite,
                         load=lambda: load_interpolator(model, placement), run=one)  # fmt: skip
    _report_folder(run, slowmo=k is not None, quiet=quiet)
    if run.failures:
        raise typer.Exit(1)


def _report_folder(run, *, slowmo: bool, quiet: bool) -> None:
    """The notes and the summary table of a batch (here or on a cluster)."""
    from aprvfi_cli.cli.console import note, print_table, summary_table

    if run.description is not None:
        note(f"interpolated with {run.description}", quiet=quiet)
    if slowmo:
        note("audio dropped (slow motion)", quiet=quiet)
    print_table(summary_table([(row.name, row.result, row.status) for row in run.rows]))


def info(input: Annotated[Path, typer.Argument(help="Video file.")]) -> None:
    """Streams, exact frame rate (variable or not), duration, frames, format, colour, rotation."""
    from aprvfi_cli.video.probe import probe

    print("\n".join(probe(input).lines()))
