"""The ``aprvfi`` command: a thin Typer layer over :mod:`aprvfi_cli.engine`.

It turns the user's words into a :class:`~aprvfi_cli.placement.Placement` and a model (through
:func:`~aprvfi_cli.engine.interpolator.load_model`) once, and passes them down. Every error ends
as one line on stderr (``aprvfi: error: ...``) with exit code 2 for usage errors and 1 for
failures; library errors name their subject in domain words, and :func:`main` puts the flag in
front. No traceback reaches the user.
"""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path
from typing import Annotated

import typer

from aprvfi_cli import __version__
from aprvfi_cli.cluster.command import RayAddress
from aprvfi_cli.console import check_output
from aprvfi_cli.errors import AprvfiError, InputError, UsageError
from aprvfi_cli.eval.command import eval_command
from aprvfi_cli.eval.speed import bench_command
from aprvfi_cli.options import EncoderOptions, ModelOptions, Overwrite, Quiet, with_options
from aprvfi_cli.train.command import data_app, train_app

app = typer.Typer(
    name="aprvfi",
    help="Smoother and slower video: frame interpolation with the APR-VFI network.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

# the flag that sets each subject a library error can name
FLAGS = {
    "fps": "--fps",
    "factor": "--factor",
    "device": "--device",
    "precision": "--precision",
    "threads": "--threads",
    "weights": "--weights",
    "route": "--route",
    "preset": "--preset",
    "codec": "--codec",
    "pix_fmt": "--pix-fmt",
    "crf": "--crf",
    "scene_threshold": "--scene-threshold",
    "ray": "--ray",
}

Output = Annotated[Path | None, typer.Option("-o", "--output", help="Output file.")]


def _version(value: bool) -> None:
    if value:
        print(f"aprvfi {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Smoother and slower video: frame interpolation with the APR-VFI network."""


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


def _model(model: ModelOptions):
    from aprvfi_cli.engine.interpolator import load_model

    return load_model(model.weights, model.device, model.precision, route=model.route, threads=model.threads)


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
    from aprvfi_cli.console import progress_bar
    from aprvfi_cli.engine.stream import process_video

    with progress_bar(source.name, quiet=quiet) as progress:
        return process_video(source, target, interpolator=interpolator, options=options, progress=progress)


def _report(result, description: str, *, quiet: bool, extra: list[str]) -> None:
    from aprvfi_cli.console import note

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


@app.command()
@with_options(model=ModelOptions, encoder=EncoderOptions)
def slowmo(
    input: Annotated[Path, typer.Argument(help="Video file.")],
    model: ModelOptions,
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
    from aprvfi_cli.console import default_output, format_rate

    k = parse_factor(factor)
    _check_input(input)
    target = output or default_output(input, tag=f"slowmo{format_rate(k)}x")
    check_output(input, target, overwrite=overwrite)
    _check_target(target, encoder)
    options = _job_options(encoder, fps=None, slowmo=k, audio=keep_audio)
    result, description = _run_video(input, target, model=model, options=options, ray=ray, quiet=quiet)
    extra = [] if keep_audio else ["audio dropped (slow motion); --keep-audio copies it unchanged"]
    _report(result, description, quiet=quiet, extra=extra)


@app.command()
@with_options(model=ModelOptions, encoder=EncoderOptions)
def convert(
    input: Annotated[Path, typer.Argument(help="Video file.")],
    model: ModelOptions,
    encoder: EncoderOptions,
    fps: Annotated[str | None, typer.Option("--fps", help="Target rate: 60, 59.94, 60000/1001.")] = None,
    multi: Annotated[str | None, typer.Option("--multi", help="Target = source rate x K.")] = None,
    output: Output = None,
    no_audio: Annotated[bool, typer.Option("--no-audio", help="Drop audio and subtitles.")] = False,
    ray: RayAddress = None,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
) -> None:
    """Frame-rate conversion: same duration, audio copied and in sync."""
    from aprvfi_cli.console import default_output, format_rate

    if (fps is None) == (multi is None):
        raise UsageError("give exactly one of --fps RATE and --multi K")
    rate = parse_fps(fps) if fps is not None else None
    k = parse_factor(multi, flag="--multi") if multi is not None else None
    _check_input(input)
    if rate is None:
        rate = _source_rate(input) * k
    target = output or default_output(input, tag=f"{format_rate(rate)}fps")
    check_output(input, target, overwrite=overwrite)
    _check_target(target, encoder)
    options = _job_options(encoder, fps=rate, slowmo=None, audio=not no_audio)
    result, description = _run_video(input, target, model=model, options=options, ray=ray, quiet=quiet)
    _report(result, description, quiet=quiet, extra=[])


def _run_video(source: Path, target: Path, *, model: ModelOptions, options, ray: str | None, quiet: bool):
    """One video here, or across the workers of a Ray cluster (``--ray``): (result, interpolator description)."""
    if ray is not None:
        from aprvfi_cli.cluster.command import cluster_address, convert_on_ray

        return convert_on_ray(source, target, model=model, options=options, address=cluster_address(ray), quiet=quiet)
    interpolator = _model(model)
    return _run_one(source, target, options=options, interpolator=interpolator, quiet=quiet), interpolator.describe()


def _source_rate(source: Path) -> Fraction:
    from aprvfi_cli.video.reader import VideoReader

    with VideoReader(source) as reader:
        if not reader.rate:
            raise InputError(f"{source} declares no frame rate; use --fps")
        return reader.rate


@app.command()
@with_options(model=ModelOptions, encoder=EncoderOptions)
def batch(
    folder: Annotated[Path, typer.Argument(help="Folder of videos.")],
    model: ModelOptions,
    encoder: EncoderOptions,
    fps: Annotated[str | None, typer.Option("--fps", help="Convert every clip to this rate.")] = None,
    slowmo_k: Annotated[str | None, typer.Option("--slowmo", help="Slow every clip down by K.")] = None,
    output_dir: Annotated[Path | None, typer.Option("-o", "--output-dir", help="Output folder.")] = None,
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Include sub-folders.")] = False,
    ray: RayAddress = None,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
) -> None:
    """Every video in a folder; finished outputs are skipped, so a rerun resumes."""
    from aprvfi_cli.batch import run_batch

    if (fps is None) == (slowmo_k is None):
        raise UsageError("give exactly one of --fps RATE and --slowmo K")
    rate = parse_fps(fps) if fps is not None else None
    k = parse_factor(slowmo_k, flag="--slowmo") if slowmo_k is not None else None
    if not folder.exists():
        raise UsageError(f"folder not found: {folder}")
    if not folder.is_dir():
        raise UsageError(f"not a folder: {folder}")
    options = _job_options(encoder, fps=rate, slowmo=k, audio=rate is not None)
    if ray is not None:  # every clip a task on the cluster's workers
        from aprvfi_cli.cluster.command import batch_on_ray, cluster_address

        failed = batch_on_ray(folder, output_dir, model=model, options=options, address=cluster_address(ray),
                              recursive=recursive, overwrite=overwrite, quiet=quiet)  # fmt: skip
        if failed:
            raise typer.Exit(1)
        return

    def run(source: Path, target: Path, interpolator) -> object:
        return _run_one(source, target, options=options, interpolator=interpolator, quiet=quiet)

    failed = run_batch(folder, output_dir, retime=options.retime, recursive=recursive, overwrite=overwrite,
                       quiet=quiet, load=lambda: _model(model), run=run)  # fmt: skip
    if failed:
        raise typer.Exit(1)


@app.command()
@with_options(model=ModelOptions)
def pair(
    first: Annotated[Path, typer.Argument(help="First image (PNG, JPEG...).")],
    second: Annotated[Path, typer.Argument(help="Second image.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output image (.png).")],
    model: ModelOptions,
    t: Annotated[float | None, typer.Option("-t", help="Time in (0, 1).")] = None,
    n: Annotated[int | None, typer.Option("-n", help="N evenly spaced frames.")] = None,
    route_map: Annotated[
        Path | None, typer.Option("--route-map", help="Also draw the patches each dynamic block ran (.png).")
    ] = None,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
) -> None:
    """Interpolate between two images: one frame at t, or N evenly spaced ones."""
    from aprvfi_cli.console import note
    from aprvfi_cli.engine.route_drawing import render_route_map
    from aprvfi_cli.video.images import image_format, numbered, read_image, write_image

    if t is not None and n is not None:
        raise UsageError("give -t or -n, not both")
    if n is not None and n < 1:
        raise UsageError("-n must be at least 1")
    times = [t if t is not None else 0.5] if n is None else [k / (n + 1) for k in range(1, n + 1)]
    if any(not 0 < x < 1 for x in times):
        raise UsageError("-t must lie strictly between 0 and 1")
    targets = [output] if len(times) == 1 else numbered(output, len(times))
    if route_map is not None and len(targets) > 1:
        raise UsageError("--route-map draws one frame's routing: use -t, not -n")
    targets += [route_map] if route_map is not None else []
    for target in targets:
        image_format(target)  # the image type comes from the name: checked before any work
    img0, img1 = read_image(first), read_image(second)
    if img0.shape != img1.shape:
        raise InputError(f"images differ in size: {img0.shape[1]}x{img0.shape[0]} vs "
                         f"{img1.shape[1]}x{img1.shape[0]}")  # fmt: skip
    for target in targets:
        for source in (first, second):
            check_output(source, target, overwrite=overwrite)
    interpolator = _model(model)
    if route_map is not None:
        if interpolator.method == "flow-only":
            raise UsageError("--route-map needs trained APR-VFI weights: flow-only interpolation runs no patches")
        frame, routed = interpolator.route_map(img0, img1, times[0])
        frames = [frame, render_route_map(frame, routed, patch_size=interpolator.model.config.patch_size)]
    else:
        frames = interpolator.interpolate(img0, img1, times)
    for target, frame in zip(targets, frames, strict=True):
        write_image(target, frame)
    note(f"interpolated with {interpolator.describe()}", quiet=quiet)
    if not quiet:
        print("\n".join(str(x) for x in targets))


@app.command()
def info(input: Annotated[Path, typer.Argument(help="Video file.")]) -> None:
    """Streams, exact frame rate (variable or not), duration, frames, format, colour, rotation."""
    from aprvfi_cli.video.probe import probe

    print("\n".join(probe(input).lines()))


app.command("bench")(bench_command)
app.command("eval")(eval_command)
app.add_typer(train_app, name="train")
app.add_typer(data_app, name="data")


def error_line(error: AprvfiError) -> str:
    """The user's line for a library error: the flag of its subject in front of its domain words."""
    flag = FLAGS.get(error.subject or "")
    if flag is None or error.message.startswith(flag):
        return error.message
    return f"{flag}: {error.message}"


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turn every exception into one stderr line and an exit code."""
    from aprvfi_cli.video.termination import Terminated, terminate_on_signals

    command = typer.main.get_command(app)
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        with terminate_on_signals():  # SIGTERM/SIGHUP/SIGINT unwind, so temporary files go
            code = command.main(args, prog_name="aprvfi", standalone_mode=False)
        return code if isinstance(code, int) else 0
    except Terminated as stop:
        return _fail(stop.message, stop.exit_code)
    except AprvfiError as error:
        return _fail(error_line(error), error.exit_code)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except Exception as error:
        if hasattr(error, "format_message") and hasattr(error, "exit_code"):  # click's errors
            return _fail(error.format_message(), error.exit_code)
        if type(error).__name__ in ("Exit", "Abort"):
            return getattr(error, "exit_code", 1)
        return _fail(f"unexpected {type(error).__name__}: {error}", 1)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 1


def _fail(message: str, code: int) -> int:
    text = " ".join(str(message).split())
    print(f"aprvfi: error: {text}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
