"""``aprvfi eval PATH``: PSNR / SSIM of the model and the baselines on triplet folders, Middlebury or a clip."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from aprvfi_cli.eval.evaluate import METHODS, EvalReport, evaluate, load_eval_model
from aprvfi_cli.eval.sets import open_eval_set
from aprvfi_cli.model import Routing


def render(report: EvalReport) -> Table:
    """The summary table: one row per method."""
    table = Table(title=f"{report.dataset} ({report.layout}, {len(report.names)} triplets"
                        + (f", {report.skipped} skipped" if report.skipped else "") + ")",
                  caption=f"weights: {report.weights}; device: {report.device}; apr routing: {report.routing}")
    for column in ("method", "PSNR dB", "SSIM", "s/pair", "patches run"):
        table.add_column(column, justify="left" if column == "method" else "right")
    for name, scores in report.methods.items():
        s = scores.summary()
        table.add_row(
            name,
            "-" if s["psnr"] is None else f"{s['psnr']:.2f}",
            "-" if s["ssim"] is None else f"{s['ssim']:.4f}",
            "-" if s["seconds_per_pair"] is None else f"{s['seconds_per_pair']:.3f}",
            "-" if s["pass_fraction"] is None else f"{s['pass_fraction']:.0%}",
        )
    return table


def eval_command(
    path: Annotated[Path, typer.Argument(help="Vimeo90K-style triplet folders, a Middlebury root, a frame folder "
                                              "or a video file")],
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the numbers (and per triplet) here")]
    = None,
    weights: Annotated[Path | None, typer.Option(help="APR-VFI weights file (default: the shipped ones)")] = None,
    route: Annotated[str, typer.Option(help="APR routing: apr (router argmax) or keep ratios 0.1,0.4,0.6,0.9")]
    = "apr",
    methods: Annotated[str, typer.Option(help=f"comma-separated subset of {','.join(METHODS)}")] = ",".join(METHODS),
    max_triplets: Annotated[int | None, typer.Option(help="score an evenly spread subset")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda")] = "auto",
    threads: Annotated[int | None, typer.Option(help="CPU threads for torch")] = None,
) -> None:
    """Score PSNR (RGB, 8-bit, whole frame) and SSIM of the model (static and APR), flow-only and the
    trivial baselines (repeat, average), with seconds per pair."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    chosen = tuple(m.strip() for m in methods.split(",") if m.strip())
    if set(chosen) - set(METHODS):
        raise typer.BadParameter(f"methods must be among {', '.join(METHODS)}", param_hint="--methods")
    try:
        routing = Routing.parse(route)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--route") from error
    try:
        dataset = open_eval_set(path, limit=max_triplets)
    except FileNotFoundError as error:
        raise typer.BadParameter(str(error), param_hint="PATH") from error
    target = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                          ("cpu" if device == "auto" else device))
    model, described = load_eval_model(weights)
    console = Console(stderr=True)
    names: list[str] = []
    with console.status(f"scoring {dataset.count} triplets of {path}") as status:
        def progress(name: str) -> None:
            names.append(name)
            status.update(f"scored {len(names)}/{dataset.count}: {name}")

        scores = evaluate(dataset.triplets, model=model, device=target, routing=routing, methods=chosen,
                          on_triplet=progress)
    report = EvalReport(dataset=str(path), layout=dataset.layout, weights=described, device=str(target),
                        routing=route, methods=scores, names=names, skipped=dataset.skipped)
    Console().print(render(report))
    if json_out is not None:
        json_out.write_text(json.dumps(report.to_dict(), indent=1) + "\n")
