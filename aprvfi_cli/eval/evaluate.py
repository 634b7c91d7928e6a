"""Quality of the model and of the trivial baselines on an evaluation set (DESIGN §5).

Methods, each scored by PSNR (RGB, 8-bit, whole frame) and SSIM against the true middle frame:
``repeat`` (copy frame 0), ``average`` (mean of the inputs), ``flow-only`` (the flow network's
bidirectional splatting, no synthesis), ``static`` (the model, every patch through every block)
and ``apr`` (the model with routing). Seconds per pair are wall-clock for the model methods
(flow and context included) on the chosen device.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from aprvfi_cli.eval.metrics import psnr, to_uint8
from aprvfi_cli.eval.middlebury import Triplet
from aprvfi_cli.eval.ssim import ssim
from aprvfi_cli.model import APRVFI, Routing
from aprvfi_cli.model.weights import default_weights, flow_only_model, load_weights

METHODS = ("repeat", "average", "flow-only", "static", "apr")


@dataclass
class MethodScores:
    """Per-triplet numbers of one method."""

    psnr: list[float] = field(default_factory=list)
    ssim: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    pass_fraction: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, float | None]:
        finite = [p for p in self.psnr if np.isfinite(p)]
        return {
            "psnr": float(np.mean(finite)) if finite else None,
            "ssim": float(np.mean(self.ssim)) if self.ssim else None,
            "seconds_per_pair": float(np.median(self.seconds)) if self.seconds else None,
            "pass_fraction": float(np.mean(self.pass_fraction)) if self.pass_fraction else None,
        }


@dataclass
class EvalReport:
    """Everything ``aprvfi eval`` prints and writes as JSON."""

    dataset: str
    layout: str
    weights: str
    device: str
    routing: str
    methods: dict[str, MethodScores]
    names: list[str] = field(default_factory=list)
    skipped: int = 0

    def to_dict(self) -> dict:
        return {
            "dataset": self.dataset, "layout": self.layout, "triplets": len(self.names), "skipped": self.skipped,
            "weights": self.weights, "device": self.device, "routing": self.routing,
            "methods": {name: scores.summary() for name, scores in self.methods.items()},
            "per_triplet": [
                {"name": n, **{m: {"psnr": s.psnr[i], "ssim": s.ssim[i]} for m, s in self.methods.items()}}
                for i, n in enumerate(self.names)
            ],
        }


def load_eval_model(weights: str | Path | None) -> tuple[APRVFI, str]:
    """The model to score and a description: a weights file, the default weights, or (with none
    trained) the EBME flow with an untrained synthesis head, whose output is the flow-only frame."""
    if weights is not None:
        return load_weights(weights), str(weights)
    default = default_weights()
    if default is not None:
        return load_weights(default), str(default)
    return flow_only_model(), "none trained: EBME flow + zero synthesis head (static = apr = flow-only)"


def _to_tensor(image: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float().div(255).to(device)


def _to_image(frame: torch.Tensor) -> np.ndarray:
    return to_uint8(frame[0].float().permute(1, 2, 0).cpu().numpy())


def _timed(run: Callable[[], object], device: torch.device) -> tuple[object, float]:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    result = run()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return result, time.perf_counter() - start


@torch.no_grad()
def evaluate(
    triplets: Iterable[Triplet],
    *,
    model: APRVFI,
    device: torch.device,
    routing: Routing,
    methods: tuple[str, ...] = METHODS,
    on_triplet: Callable[[str], None] | None = None,
) -> dict[str, MethodScores]:
    """Score every method on every triplet; returns per-method scores (names in input order)."""
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise ValueError(f"unknown methods {sorted(unknown)}; choose from {', '.join(METHODS)}")
    model = model.eval().to(device)
    scores = {name: MethodScores() for name in methods}
    static = Routing(mode="static")
    for triplet in triplets:
        frames: dict[str, np.ndarray] = {}
        if "repeat" in methods:
            frames["repeat"] = triplet.frame0
        if "average" in methods:
            mean = (triplet.frame0.astype(np.uint16) + triplet.frame1.astype(np.uint16) + 1) // 2
            frames["average"] = mean.astype(np.uint8)
        if {"flow-only", "static", "apr"} & set(methods):
            img0, img1 = _to_tensor(triplet.frame0, device), _to_tensor(triplet.frame1, device)
            pair, flow_s = _timed(lambda img0=img0, img1=img1: model.estimate(img0, img1), device)
            if "flow-only" in methods:
                frame, seconds = _timed(lambda pair=pair: model.flow_only(pair, 0.5), device)
                frames["flow-only"] = _to_image(frame)
                scores["flow-only"].seconds.append(flow_s + seconds)
            for name, policy in (("static", static), ("apr", routing)):
                if name in methods:
                    out, seconds = _timed(lambda pair=pair, policy=policy: model.synthesize(pair, 0.5, routing=policy),
                                          device)
                    frames[name] = _to_image(out.frame)
                    scores[name].seconds.append(flow_s + seconds)
                    scores[name].pass_fraction.append(out.route_map.float().mean().item())
        for name, image in frames.items():
            scores[name].psnr.append(psnr(image, triplet.truth))
            scores[name].ssim.append(ssim(image, triplet.truth))
        if on_triplet is not None:
            on_triplet(triplet.name)
    return scores
