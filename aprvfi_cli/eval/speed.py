"""Speed and FLOPs of the model, static vs APR, at the paper's resolutions (DESIGN §5).

``aprvfi bench`` and ``benchmarks/model_speed.py`` both call :func:`main`. Everything runs in
one process: for each size, a warm-up, then static and APR runs interleaved so that machine
load affects both alike; the median of the repeats is reported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table
from torch.utils.flop_counter import FlopCounterMode

from aprvfi_cli.engine.interpolator import resolve_device
from aprvfi_cli.errors import UsageError
from aprvfi_cli.model import APRVFI, ModelConfig, Routing


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


def _timed(run: Callable[[], None], device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    run()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


@torch.no_grad()
def measure(
    model: APRVFI, *, width: int, height: int, device: torch.device, repeats: int, routing_apr: Routing
) -> SpeedResult:
    """Parameters, FLOPs and median seconds per frame pair for one frame size."""
    generator = torch.Generator().manual_seed(0)
    memory = torch.channels_last if device.type == "cpu" else torch.contiguous_format
    img0 = torch.rand(1, 3, height, width, generator=generator).to(device, memory_format=memory)
    img1 = torch.roll(img0, shifts=(3, 7), dims=(2, 3))  # a real, small motion
    static = Routing(mode="static")

    def flops(routing: Routing) -> int:
        counter = FlopCounterMode(display=False)
        with counter:
            model.synthesize(model.estimate(img0, img1), 0.5, routing=routing)
        return counter.get_total_flops()

    def run(routing: Routing) -> Callable[[], None]:
        return lambda: model.synthesize(model.estimate(img0, img1), 0.5, routing=routing)

    flops_static, flops_apr = flops(static), flops(routing_apr)
    run(static)()  # warm-up: allocator, kernels, caches
    run(routing_apr)()
    static_times, apr_times, flow_times = [], [], []
    for _ in range(repeats):
        static_times.append(_timed(run(static), device))
        apr_times.append(_timed(run(routing_apr), device))
        flow_times.append(_timed(lambda: model.estimate(img0, img1), device))
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


def render(results: list[SpeedResult], *, device: torch.device, routing_apr: Routing) -> Table:
    table = Table(title=f"APR-VFI speed on {device} (APR: keep ratios {routing_apr.keep_ratios})")
    for column in (
        "size", "params", "TFLOPs static", "TFLOPs APR", "APR/static FLOPs",
        "s/pair static", "s/pair APR", "APR/static time", "s flow+context",
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="aprvfi bench", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2048x1080,1280x720", help="comma-separated WxH list")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per mode (median)")
    parser.add_argument("--preset", default="paper", choices=["paper", "tiny"])
    parser.add_argument("--route", default=None, help="APR keep ratios (default: the config's)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers as JSON")
    args = parser.parse_args(argv)
    sizes = [parse_size(part) for part in args.sizes.split(",")]
    device = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    config = ModelConfig.preset(args.preset)
    try:
        routing_apr = Routing.parse(args.route) if args.route else Routing(mode="keep", keep_ratios=config.keep_ratios)
    except ValueError as error:
        raise UsageError(f"--route: {error}") from None
    model = APRVFI(config).eval().to(device)
    if device.type == "cpu":
        model = model.to(memory_format=torch.channels_last)  # 3.5x faster 3x3 convs on CPU
    results = [
        measure(model, width=w, height=h, device=device, repeats=args.repeats, routing_apr=routing_apr)
        for w, h in sizes
    ]
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)  # a piped table keeps its columns readable
    console.print(render(results, device=device, routing_apr=routing_apr))
    if args.json:
        payload = {
            "device": str(device),
            "threads": torch.get_num_threads(),
            "preset": args.preset,
            "keep_ratios": list(routing_apr.keep_ratios or ()),
            "sizes": {f"{r.width}x{r.height}": asdict(r) for r in results},
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0
