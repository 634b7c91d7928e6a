"""``aprvfi eval PATH``: PSNR / SSIM of the model and the baselines on triplet folders, Middlebury or a clip."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from aprvfi_cli.cli.options import ModelOptions, PlacementOptions, load_interpolator, with_options
from aprvfi_cli.errors import UsageError

if TYPE_CHECKING:
    from rich.table import Table

    from aprvfi_cli.eval.evaluate import EvalReport


def render(report: EvalReport) -> Table:
    """The summary table: one row per method."""
    from rich.table import Table

    skipped = f", {report.skipped} skipped" if report.skipped else ""
    table = Table(
        title=f"{report.dataset} ({report.layout}, {len(report.names)} triplets{skipped})",
        caption=f"weights: {report.weights}; device: {report.device}; apr routing: {report.routing}; "
        f"{report.flow_scale}",
    )
    gains = report.gains()
    for column in ("method", "PSNR dB", "vs flow-only dB [95%]", "SSIM", "s/pair", "patches run"):
        table.add_column(column, justify="left" if column == "method" else "right")
    for name, scores in report.methods.items():
        s = scores.summary()
        table.add_row(
            name,
            "-" if s["psnr"] is None else f"{s['psnr']:.2f}",
            str(gains[name]) if name in gains else "-",
            "-" if s["ssim"] is None else f"{s['ssim']:.4f}",
            "-" if s["seconds_per_pair"] is None else f"{s['seconds_per_pair']:.3f}",
            "-" if s["pass_fraction"] is None else f"{s['pass_fraction']:.0%}",
        )
    return table


@with_options(model=ModelOptions, placement=PlacementOptions)
def evaluate(
    path: Annotated[
        Path, typer.Argument(help="Vimeo90K-style triplet folders, a Middlebury root, a frame folder or a video file")
    ],
    model: ModelOptions,
    placement: PlacementOptions,
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the numbers (per triplet too)")] = None,
    methods: Annotated[
        str | None,
        typer.Option(help="comma-separated subset of repeat, average, flow-only, static, apr (default: all)"),
    ] = None,
    max_triplets: Annotated[int | None, typer.Option(help="score an evenly spread subset")] = None,
) -> None:
    """Score PSNR (RGB, 8-bit, whole frame) and SSIM of the model (static and APR), flow-only and the
    trivial baselines (repeat, average), with seconds per pair, through the same path as convert."""
    import json

    from rich.console import Console

    from aprvfi_cli.eval.evaluate import METHODS, EvalReport, evaluate, method_interpolators
    from aprvfi_cli.eval.sets import open_eval_set

    chosen = METHODS if methods is None else tuple(m.strip() for m in methods.split(",") if m.strip())
    if not chosen or set(chosen) - set(METHODS):
        raise UsageError(f"--methods must be among {', '.join(METHODS)}, got {methods!r}")
    loaded = load_interpolator(model, placement)
    try:
        dataset = open_eval_set(path, limit=max_triplets)
    except FileNotFoundError as error:
        raise UsageError(str(error)) from error
    interpolators = method_interpolators(loaded, methods=chosen)
    console = Console(stderr=True)
    names: list[str] = []
    with console.status(f"scoring {dataset.count} triplets of {path}") as status:

        def progress(name: str) -> None:
            names.append(name)
            status.update(f"scored {len(names)}/{dataset.count}: {name}")

        scores = evaluate(dataset.triplets, interpolators=interpolators, methods=chosen, on_triplet=progress)
    report = EvalReport(
        dataset=str(path),
        layout=dataset.layout,
        weights=loaded.origin.describe(),
        device=loaded.placement.describe(),
        routing=loaded.routing.describe(),
        methods=scores,
        names=names,
        skipped=dataset.skipped,
        flow_scale=next(iter(interpolators.values()), loaded).describe_flow_scale(),
    )
    Console().print(render(report))
    if json_out is not None:
        json_out.write_text(json.dumps(report.to_dict(), indent=1) + "\n")
