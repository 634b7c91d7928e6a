"""``aprvfi bench``: speed, FLOPs and peak memory of the network (:mod:`aprvfi_cli.eval.speed`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from aprvfi_cli.cli.options import ModelOptions, PlacementOptions, load_interpolator, with_options
from aprvfi_cli.errors import UsageError
from aprvfi_cli.runtime import openmp_wait_policy

if TYPE_CHECKING:
    from rich.table import Table

    from aprvfi_cli.eval.speed import SpeedResult
    from aprvfi_cli.model import Routing
    from aprvfi_cli.placement import Placement


def parse_size(text: str) -> tuple[int, int]:
    """``"2048x1080"`` -> (2048, 1080); :class:`UsageError` for anything else."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise UsageError(f"--sizes: a size looks like 2048x1080, got {text!r}") from None
    if width < 1 or height < 1:
        raise UsageError(f"--sizes: width and height must be positive, got {text!r}")
    return width, height


def parse_ratios(text: str) -> tuple[float, ...]:
    """``--dial``: keep ratios in [0, 1] such as ``0.2,0.8`` ("" for none)."""
    try:
        ratios = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise UsageError(f"--dial: keep ratios such as 0.2,0.8, got {text!r}") from None
    if any(not 0.0 <= ratio <= 1.0 for ratio in ratios):
        raise UsageError(f"--dial: keep ratios lie in [0, 1], got {text!r}")
    return ratios


def render(results: list[SpeedResult], *, placement: Placement, routing: Routing, flow_scale: str) -> Table:
    """One table: a row per (size, mode), with time and FLOPs relative to static."""
    from rich.table import Table

    waiting = f", OpenMP wait policy {openmp_wait_policy()}" if placement.device.type == "cpu" else ""
    table = Table(
        title=f"APR-VFI speed on {placement.describe()}{waiting} (apr row: {routing.describe()}; "
        f"flow scale {flow_scale}; flow-only S: the flow at scale S)"
    )
    for column in ("size", "mode", "patches run", "TFLOPs", "s/pair", "time/static", "FLOPs/static", "peak GB"):
        table.add_column(column, justify="right")
    for r in results:
        for m in r.modes:
            table.add_row(
                f"{r.width}x{r.height}",
                m.mode,
                "-" if m.kept is None else f"{m.kept:.2f}",
                f"{m.flops / 1e12:.3f}",
                f"{m.time_s:.3f}",
                f"{m.time_s / r.time_static_s:.3f}",
                f"{m.flops / r.flops_static:.3f}",
                "-" if m.peak_bytes is None else f"{m.peak_bytes / 1e9:.2f}",
            )
    return table


@with_options(model=ModelOptions, placement=PlacementOptions)
def bench(
    model: ModelOptions,
    placement: PlacementOptions,
    sizes: Annotated[str, typer.Option("--sizes", help="Comma-separated WxH list.")] = "2048x1080,1280x720",
    repeats: Annotated[int, typer.Option("--repeats", min=1, help="Timed runs per mode (median).")] = 3,
    dial: Annotated[
        str, typer.Option("--dial", help="Also APR with every dynamic block at each of these keep ratios.")
    ] = "0.2,0.8",
    peers: Annotated[bool, typer.Option("--peers/--no-peers", help="Time RIFE 4.0 too, when installed.")] = True,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the numbers as JSON.")] = None,
) -> None:
    """Speed, FLOPs and peak memory of flow-only, static and APR (the keep-ratio dial), beside RIFE 4.0.

    The network of --weights runs (speed does not depend on the weights' values); the apr row
    routes as --route says, and for apr itself at the keep ratios the router is trained to, since
    the timed frames are noise."""
    import json
    from dataclasses import asdict

    import torch
    from rich.console import Console

    from aprvfi_cli.eval.rife_peer import load_rife, rife_available
    from aprvfi_cli.eval.speed import measure, timed_routing

    frame_sizes = [parse_size(part) for part in sizes.split(",")]
    dial_ratios = parse_ratios(dial)
    loaded = load_interpolator(model, placement)
    network, where = loaded.model, loaded.placement
    routing = timed_routing(loaded.routing, network.config)
    rife = None
    if peers and rife_available():
        rife_network = load_rife(where.device)
        rife = lambda a, b: rife_network(a.float(), b.float())  # noqa: E731 - RIFE runs in fp32 as shipped
    results = [
        measure(network, width=w, height=h, placement=where, repeats=repeats, routing_apr=routing, dial=dial_ratios,
                rife=rife, flow_scale=loaded.flow_scale)
        for w, h in frame_sizes
    ]  # fmt: skip
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)  # a piped table keeps its columns readable
    console.print(render(results, placement=where, routing=routing, flow_scale=str(loaded.flow_scale)))
    if json_out is not None:
        payload = {
            "device": str(where.device),
            "precision": where.precision,
            "threads": torch.get_num_threads(),
            "openmp_wait_policy": openmp_wait_policy(),  # passive when the machine was busy at start (runtime.py)
            "preset": network.config.name,
            "weights": loaded.origin.describe(),
            "route": routing.describe(),
            "flow_scale": loaded.flow_scale,
            "keep_ratios": list(routing.keep_ratios or ()),
            "sizes": {f"{r.width}x{r.height}": asdict(r) for r in results},
        }
        json_out.write_text(json.dumps(payload, indent=2) + "\n")
