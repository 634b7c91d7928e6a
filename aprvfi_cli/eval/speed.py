"""Speed and FLOPs of the model, static vs APR, at the paper's resolutions.

``aprvfi bench`` is :func:`bench_command`; ``benchmarks/model_speed.py`` runs it through
:func:`main`. Everything runs in one process: for each size, a warm-up, then static and APR runs
interleaved so that machine load affects both alike; the median of the repeats is reported.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated

import click
import torch
import typer
from rich.console import Console
from rich.table import Table
from torch.utils.flop_counter import FlopCounterMode

from aprvfi_cli.errors import UsageError
from aprvfi_cli.model import APRVFI, ModelConfig, Routing
from aprvfi_cli.options import MODEL_PANEL, PlacementOptions, with_options
from aprvfi_cli.placement import Placement, resolve_placement


@dataclass(frozen=True)
class SpeedResult:
    """One frame size's numbers. FLOPs count multiply and add separately (torch's counter)."""

    width: int
    height: int
    params: int
    flops_static: int
    flops_apr: int
    time_static_s: float
    time_apr_s: float
    time_flow_s: float


def parse_size(text: str) -> tuple[int, int]:
    """``"2048x1080"`` -> (2048, 1080); :class:`UsageError` for anything else."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise UsageError(f"--sizes: a size looks like 2048x1080, got {text!r}") from None
    if width < 1 or height < 1:
        raise UsageError(f"--sizes: width and height must be positive, got {text!r}")
    return width, height


def _timed(run: Callable[[], None], placement: Placement) -> float:
    placement.synchronize()
    start = time.perf_counter()
    run()
    placement.synchronize()
    return time.perf_counter() - start


@torch.no_grad()
def measure(
    model: APRVFI, *, width: int, height: int, placement: Placement, repeats: int, routing_apr: Routing
) -> SpeedResult:
    """Parameters, FLOPs and median seconds per frame pair for one frame size (``model`` on ``placement``)."""
    generator = torch.Generator().manual_seed(0)
    img0 = placement.to(torch.rand(1, 3, height, width, generator=generator))
    img1 = torch.roll(img0, shifts=(3, 7), dims=(2, 3))  # a real, small motion
    static = Routing(mode="static")

    def synthesize(routing: Routing) -> None:
        with placement.autocast():
            model.synthesize(model.estimate(img0, img1), 0.5, routing=routing, channels_last=placement.channels_last)

    def flow() -> None:
        with placement.autocast():
            model.estimate(img0, img1)

    def flops(routing: Routing) -> int:
        counter = FlopCounterMode(display=False)
        with counter:
            synthesize(routing)
        return counter.get_total_flops()

    flops_static, flops_apr = flops(static), flops(routing_apr)
    synthesize(static)  # warm-up: allocator, kernels, caches
    synthesize(routing_apr)
    static_times, apr_times, flow_times = [], [], []
    for _ in range(repeats):
        static_times.append(_timed(lambda: synthesize(static), placement))
        apr_times.append(_timed(lambda: synthesize(routing_apr), placement))
        flow_times.append(_timed(flow, placement))
    return SpeedResult(
        width=width,
        height=height,
        params=sum(p.numel() for p in model.parameters()),
        flops_static=flops_static,
        flops_apr=flops_apr,
        time_static_s=statistics.median(static_times),
        time_apr_s=statistics.median(apr_times),
        time_flow_s=statistics.median(flow_times),
    )


def render(results: list[SpeedResult], *, placement: Placement, routing_apr: Routing) -> Table:
    table = Table(title=f"APR-VFI speed on {placement.describe()} (APR: keep ratios {routing_apr.keep_ratios})")
    for column in (
        "size",
        "params",
        "TFLOPs static",
        "TFLOPs APR",
        "APR/static FLOPs",
        "s/pair static",
        "s/pair APR",
        "APR/static time",
        "s flow+context",
    ):
        table.add_column(column, justify="right")
    for r in results:
        table.add_row(
            f"{r.width}x{r.height}",
            f"{r.params / 1e6:.3f}M",
            f"{r.flops_static / 1e12:.3f}",
            f"{r.flops_apr / 1e12:.3f}",
            f"{r.flops_apr / r.flops_static:.3f}",
            f"{r.time_static_s:.3f}",
            f"{r.time_apr_s:.3f}",
            f"{r.time_apr_s / r.time_static_s:.3f}",
            f"{r.time_flow_s:.3f}",
        )
    return table


@with_options(placement_words=PlacementOptions)
def bench_command(
    placement_words: PlacementOptions,
    sizes: Annotated[str, typer.Option("--sizes", help="Comma-separated WxH list.")] = "2048x1080,1280x720",
    repeats: Annotated[int, typer.Option("--repeats", min=1, help="Timed runs per mode (median).")] = 3,
    preset: Annotated[str, typer.Option("--preset", help="Model preset: paper or tiny.")] = "paper",
    weights: Annotated[
        Path | None,
        typer.Option("--weights", help="Weights file (default: random, of --preset).", rich_help_panel=MODEL_PANEL),
    ] = None,
    route: Annotated[str | None, typer.Option("--route", help="APR keep ratios (default: the config's).")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the numbers as JSON.")] = None,
) -> None:
    """Speed and FLOPs of static vs APR synthesis at the paper's resolutions."""
    from aprvfi_cli.engine.interpolator import parse_routing
    from aprvfi_cli.model.weights import resolve_weights

    frame_sizes = [parse_size(part) for part in sizes.split(",")]
    if preset not in ("paper", "tiny"):
        raise UsageError(f"--preset must be paper or tiny, got {preset!r}")
    placement = resolve_placement(placement_words.device, placement_words.precision, placement_words.threads)
    # speed does not depend on the weights' values: random ones of the preset unless a file is given
    model = resolve_weights(weights)[0] if weights is not None else APRVFI(ModelConfig.preset(preset))
    config = model.config
    if route is None:
        routing_apr = Routing(mode="keep", keep_ratios=config.keep_ratios)
    else:
        routing_apr = parse_routing(route, dynamic_blocks=config.num_dynamic_blocks)
        if routing_apr.mode != "keep":
            raise UsageError(f"--route: keep ratios such as 0.1,0.4,0.6,0.9, got {route!r}")
    model = placement.to(model.eval())
    results = [
        measure(model, width=w, height=h, placement=placement, repeats=repeats, routing_apr=routing_apr)
        for w, h in frame_sizes
    ]
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)  # a piped table keeps its columns readable
    console.print(render(results, placement=placement, routing_apr=routing_apr))
    if json_out is not None:
        payload = {
            "device": str(placement.device),
            "precision": placement.precision,
            "threads": torch.get_num_threads(),
            "preset": config.name,
            "keep_ratios": list(routing_apr.keep_ratios or ()),
            "sizes": {f"{r.width}x{r.height}": asdict(r) for r in results},
        }
        json_out.write_text(json.dumps(payload, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    """``bench_command`` outside the ``aprvfi`` app (``benchmarks/model_speed.py``); returns the exit code.

    Library errors propagate (as :class:`AprvfiError`); option errors print click's message.
    """
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command()(bench_command)
    try:
        typer.main.get_command(app).main(argv, prog_name="aprvfi bench", standalone_mode=False)
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except click.exceptions.Exit as done:
        return done.exit_code
    return 0
