"""Flow-only interpolation with the EBME flow on Middlebury "other": the floor every trained
model must beat. Prints a markdown table per sequence beside the trivial baselines.

Usage: python benchmarks/flow_only_middlebury.py [--data ../shared/data/middlebury_other]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from aprvfi_cli.eval.metrics import psnr, to_uint8
from aprvfi_cli.eval.middlebury import middlebury_triplets
from aprvfi_cli.model.weights import flow_only_model

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "middlebury_other"


def to_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    model = flow_only_model().eval()
    rows = []
    for triplet in middlebury_triplets(args.data):
        start = time.perf_counter()
        pair = model.estimate(to_tensor(triplet.frame0), to_tensor(triplet.frame1), context=False)
        frame = to_uint8(model.flow_only(pair, 0.5)[0].permute(1, 2, 0).numpy())
        seconds = time.perf_counter() - start
        average = ((triplet.frame0.astype(np.float64) + triplet.frame1) / 2).round().astype(np.uint8)
        height, width = triplet.truth.shape[:2]
        rows.append(
            (
                triplet.name,
                f"{width}x{height}",
                psnr(triplet.frame0, triplet.truth),
                psnr(average, triplet.truth),
                psnr(frame, triplet.truth),
                seconds,
            )
        )
    print("| sequence | size | repeat frame0 | average | flow-only (EBME flow) | s/pair (CPU) |")
    print("|---|---|---|---|---|---|")
    for name, size, repeat, average, flow_only, seconds in rows:
        print(f"| {name} | {size} | {repeat:.2f} | {average:.2f} | {flow_only:.2f} | {seconds:.2f} |")
    means = [float(np.mean([row[i] for row in rows])) for i in (2, 3, 4, 5)]
    print(f"| **mean** | | {means[0]:.2f} | {means[1]:.2f} | **{means[2]:.2f}** | {means[3]:.2f} |")


if __name__ == "__main__":
    main()
