"""Peak memory of one frame pair through the Interpolator (random weights; the memory is the same).

Usage: ``/usr/bin/time -v python benchmarks/peak_memory.py --size 3840x2160 [--only-estimate]``.
Prints the process's peak RSS (``ru_maxrss``) and the wall time of the pair; ``--only-estimate``
stops after flow + context, to split the peak between estimate and synthesis.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import torch

from aprvfi_cli.engine.interpolator import Interpolator
from aprvfi_cli.model import APRVFI, ModelConfig, Routing


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="3840x2160", help="WxH of the frames")
    parser.add_argument("--times", default="0.5", help="comma-separated t values for the pair")
    parser.add_argument(
        "--max-patches", type=int, default=None, help="synthesis chunk in patches (default: placement's)"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--only-estimate", action="store_true", help="flow + context only")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    width, height = (int(v) for v in args.size.lower().split("x"))
    torch.manual_seed(0)
    interpolator = Interpolator(APRVFI(ModelConfig()), routing=Routing(mode="apr"), max_patches=args.max_patches)
    # (B, H, W, 3) permuted, as Interpolator.to_tensor hands decoded frames over: channels_last.
    img0, img1 = torch.rand(2, 1, height, width, 3).permute(0, 1, 4, 2, 3).unbind(0)
    start = time.perf_counter()
    if args.only_estimate:
        with torch.inference_mode():
            interpolator.model.estimate(img0, img1)
    else:
        interpolator.interpolate_tensors(img0, img1, [[float(t) for t in args.times.split(",")]])
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB -> GiB
    stage = "estimate" if args.only_estimate else f"pair, t={args.times}"
    print(f"{width}x{height} {stage}: peak RSS {peak:.2f} GiB, {wall:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
