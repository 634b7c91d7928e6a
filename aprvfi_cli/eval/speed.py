"""Speed and FLOPs of the model, static vs APR, at the paper's resolutions.

``aprvfi bench`` is :func:`bench_command`; ``benchmarks/model_speed.py`` runs it through
:func:`main`. Everything runs in one process: for each size, a warm-up, then every mode (flow-only,
static, APR at the config's keep ratios, APR at the dial's ratios, RIFE 4.0 when installed)
interleaved so that machine load affects all alike; the median of the repeats is reported.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated

import torch
import typer
from rich.console import Console
from rich.table import Table
from torch.utils.flop_counter import FlopCounterMode

from aprvfi_cli.errors import UsageError
from aprvfi_cli.eval.rife_peer import load_rife, rife_available
from aprvfi_cli.model import APRVFI, ModelConfig, Routing
from aprvfi_cli.options import MODEL_PANEL, PlacementOptions, with_options
from aprvfi_cli.placement import Placement, resolve_placement


@dataclass(frozen=True)
class ModeResult:
    """One row of the table: a way of interpolating a pair at one frame size.

    Attributes:
        mode: ``flow-only``, ``static``, ``apr`` (the config's keep ratios), ``apr r`` (every dynamic
            block keeps the fraction r: the dial) or ``RIFE 4.0``.
        kept: mean fraction of the dynamic blocks' patches run (None where there are no blocks).
        flops: multiply and add counted separately (torch's counter), one pair.
        time_s: median seconds per pair.
        peak_bytes: peak memory while it ran: process resident set on the CPU, allocated on CUDA.
    """

    mode: str
    kept: float | None
    flops: int
    time_s: float
    peak_bytes: int | None


@dataclass(frozen=True)
class SpeedResult:
    """One frame size's numbers (the flat keys are kept for scripts that read the JSON)."""

    width: int
    height: int
    params: int
    flops_static: int
    flops_apr: int
    time_static_s: float
    time_apr_s: float
    time_flow_s: float
    modes: tuple[ModeResult, ...] = ()


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


class PeakMemory:
    """Peak memory of what runs between :meth:`reset` and :meth:`read`, in bytes (None if unknown).

    CUDA: the allocator's peak. CPU (Linux): the process's peak resident set, whose high-water
    mark ``/proc/self/clear_refs`` resets; it includes the model and the interpreter.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def reset(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            return
        try:
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            pass  # not Linux: read() still reports the process peak

    def read(self) -> int | None:
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated(self.device)
        try:
            status = Path("/proc/self/status").read_text()
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        return None


def _counted_flops(run: Callable[[], object]) -> int:
    counter = FlopCounterMode(display=False)
    with counter:
        run()
    return counter.get_total_flops()


@torch.no_grad()
def measure(
    model: APRVFI,
    *,
    width: int,
    height: int,
    placement: Placement,
    repeats: int,
    routing_apr: Routing,
    dial: tuple[float, ...] = (),
    rife: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> SpeedResult:
    """FLOPs, median seconds and peak memory per frame pair for one frame size, every mode.

    Modes run interleaved (one repeat of each in turn) so that changes in machine load hit all alike.
    """
    generator = torch.Generator().manual_seed(0)
    img0 = placement.to(torch.rand(1, 3, height, width, generator=generator))
    img1 = torch.roll(img0, shifts=(3, 7), dims=(2, 3))  # a real, small motion
    dynamic = model.config.num_dynamic_blocks

    def synthesize(routing: Routing) -> Callable[[], object]:
        def run() -> object:
            with placement.autocast():
                pair = model.estimate(img0, img1)
                return model.synthesize(
                    pair,
                    0.5,
                    routing=routing,
                    max_patches=placement.patch_batch,  # as the Interpolator runs it
                    channels_last=placement.channels_last,
                )

        return run

    def flow_only() -> object:
        with placement.autocast():
            return model.flow_only(model.estimate(img0, img1, context=False))

    def flow_and_context() -> object:
        with placement.autocast():
            return model.estimate(img0, img1)

    def mean_kept(routing: Routing) -> float:
        return sum(routing.keep_ratios or ()) / max(dynamic, 1)

    runners: dict[str, tuple[float | None, Callable[[], object]]] = {
        "flow-only": (None, flow_only),
        "static": (1.0, synthesize(Routing(mode="static"))),
        "apr": (mean_kept(routing_apr), synthesize(routing_apr)),
    }
    for ratio in dial:
        routing = Routing(mode="keep", keep_ratios=(ratio,) * dynamic)
        runners[f"apr {ratio:g}"] = (ratio, synthesize(routing))
    if rife is not None:
        runners["RIFE 4.0"] = (None, lambda: rife(img0, img1))
    runners["flow+context"] = (None, flow_and_context)  # the part every t of a pair shares

    # The counted run is also the warm-up (allocator, kernels, caches): it is not timed.
    flops = {name: _counted_flops(run) for name, (_, run) in runners.items()}
    peak = PeakMemory(placement.device)
    times: dict[str, list[float]] = {name: [] for name in runners}
    peaks: dict[str, int | None] = {}
    for _ in range(repeats):
        for name, (_, run) in runners.items():
            peak.reset()
            times[name].append(_timed(run, placement))
            measured = peak.read()
            peaks[name] = None if measured is None else max(measured, peaks.get(name) or 0)
    modes = tuple(
        ModeResult(
            mode=name, kept=kept, flops=flops[name], time_s=statistics.median(times[name]), peak_bytes=peaks[name]
        )
        for name, (kept, _) in runners.items()
    )
    return SpeedResult(
        width=width,
        height=height,
        params=sum(p.numel() for p in model.parameters()),
        flops_static=flops["static"],
        flops_apr=flops["apr"],
        time_static_s=statistics.median(times["static"]),
        time_apr_s=statistics.median(times["apr"]),
        time_flow_s=statistics.median(times["flow+context"]),
        modes=modes,
    )


def render(results: list[SpeedResult], *, placement: Placement, routing_apr: Routing) -> Table:
    """One table: a row per (size, mode), with time and FLOPs relative to static."""
    table = Table(title=f"APR-VFI speed on {placement.describe()} (apr: keep ratios {routing_apr.keep_ratios})")
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
    dial: Annotated[
        str, typer.Option("--dial", help="Also APR with every dynamic block at each of these keep ratios.")
    ] = "0.2,0.8",
    peers: Annotated[bool, typer.Option("--peers/--no-peers", help="Time RIFE 4.0 too, when installed.")] = True,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the numbers as JSON.")] = None,
) -> None:
    """Speed, FLOPs and peak memory of flow-only, static and APR (the keep-ratio dial), beside RIFE 4.0."""
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
    try:
        dial_ratios = tuple(float(part) for part in dial.split(",") if part.strip())
    except ValueError:
        raise UsageError(f"--dial: keep ratios such as 0.2,0.8, got {dial!r}") from None
    if any(not 0.0 <= ratio <= 1.0 for ratio in dial_ratios):
        raise UsageError(f"--dial: keep ratios lie in [0, 1], got {dial!r}")
    model = placement.to(model.eval())
    rife = None
    if peers and rife_available():
        rife_network = load_rife(placement.device)
        rife = lambda a, b: rife_network(a.float(), b.float())  # noqa: E731 - RIFE runs in fp32 as shipped
    results = [
        measure(
            model,
            width=w,
            height=h,
            placement=placement,
            repeats=repeats,
            routing_apr=routing_apr,
            dial=dial_ratios,
            rife=rife,
        )
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

    Library errors propagate (as :class:`AprvfiError`); option errors print Typer's message.
    """
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command()(bench_command)
    try:  # standalone mode shows option errors and ends every run with SystemExit(code)
        typer.main.get_command(app).main(argv, prog_name="aprvfi bench")
    except SystemExit as done:
        return int(done.code or 0)
    return 0
