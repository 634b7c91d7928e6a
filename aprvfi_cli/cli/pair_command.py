"""``aprvfi pair``: two images in, the frame(s) between them out (and, with trained weights, a route map)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from aprvfi_cli.cli.options import ModelOptions, Overwrite, PlacementOptions, Quiet, load_interpolator, with_options
from aprvfi_cli.errors import InputError, UsageError


@with_options(model=ModelOptions, placement=PlacementOptions)
def pair(
    first: Annotated[Path, typer.Argument(help="First image (PNG, JPEG...).")],
    second: Annotated[Path, typer.Argument(help="Second image.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output image (.png).")],
    model: ModelOptions,
    placement: PlacementOptions,
    t: Annotated[float | None, typer.Option("-t", help="Time in (0, 1).")] = None,
    n: Annotated[int | None, typer.Option("-n", help="N evenly spaced frames.")] = None,
    route_map: Annotated[
        Path | None, typer.Option("--route-map", help="Also draw the patches each dynamic block ran (.png).")
    ] = None,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
) -> None:
    """Interpolate between two images: one frame at t, or N evenly spaced ones."""
    from aprvfi_cli.cli.console import note
    from aprvfi_cli.engine.route_drawing import render_route_map
    from aprvfi_cli.video.images import image_format, numbered, read_image, write_image
    from aprvfi_cli.video.targets import check_output

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
    interpolator = load_interpolator(model, placement)
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
