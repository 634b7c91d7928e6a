"""Speed and FLOPs of the model, static vs APR, at the paper's resolutions (``aprvfi bench``).

For each size, a warm-up, then every mode (flow-only, static, APR, APR at the dial's keep ratios,
RIFE 4.0 when installed) interleaved so that machine load affects all alike; the median of the
repeats is reported.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from aprvfi_cli.model import APRVFI, ModelConfig, Routing
from aprvfi_cli.model.flow_scale import DEFAULT_FLOW_SCALE, FLOW_SCALES, FlowScale
from aprvfi_cli.placement import Placement


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


def timed_routing(routing: Routing, config: ModelConfig) -> Routing:
    """The routing the ``apr`` row times for the user's ``routing``: for ``apr`` (the router's own
    decisions), the keep ratios the router is trained to (the config's), because the timed input is
    noise, on which the router's choices mean nothing; ``static`` and keep ratios as they are."""
    return Routing(mode="keep", keep_ratios=config.keep_ratios) if routing.mode == "apr" else routing


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
    flow_scale: FlowScale = DEFAULT_FLOW_SCALE,
    flow_scales: tuple[float, ...] = FLOW_SCALES,
) -> SpeedResult:
    """FLOPs, median seconds and peak memory per frame pair for one frame size, every mode.

    Every mode's flow runs at ``flow_scale``; flow-only is also timed at each of ``flow_scales``
    (modes ``flow-only 1``, ``flow-only 0.5``...). Modes run interleaved (one repeat of each in
    turn) so that changes in machine load hit all alike.
    """
    generator = torch.Generator().manual_seed(0)
    img0 = placement.to(torch.rand(1, 3, height, width, generator=generator))
    img1 = torch.roll(img0, shifts=(3, 7), dims=(2, 3))  # a real, small motion
    dynamic = model.config.num_dynamic_blocks

    def synthesize(routing: Routing) -> Callable[[], object]:
        def run() -> object:
            with placement.autocast():
                pair = model.estimate(img0, img1, flow_scale=flow_scale)
                return model.synthesize(
                    pair,
                    0.5,
                    routing=routing,
                    max_patches=placement.patch_batch,  # as the Interpolator runs it
                    channels_last=placement.channels_last,
                )

        return run

    def flow_only(scale: FlowScale) -> Callable[[], object]:
        def run() -> object:
            with placement.autocast():
                return model.flow_only(model.estimate(img0, img1, context=False, flow_scale=scale))

        return run

    def flow_and_context() -> object:
        with placement.autocast():
            return model.estimate(img0, img1, flow_scale=flow_scale)

    def mean_kept(routing: Routing) -> float:
        return 1.0 if routing.mode == "static" else sum(routing.keep_ratios or ()) / max(dynamic, 1)

    runners: dict[str, tuple[float | None, Callable[[], object]]] = {
        "flow-only": (None, flow_only(flow_scale)),
        **{f"flow-only {scale:g}": (None, flow_only(scale)) for scale in flow_scales},
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
