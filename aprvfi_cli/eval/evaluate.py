"""Quality of the model and of the trivial baselines on an evaluation set.

Methods, each scored by PSNR (RGB, 8-bit, whole frame) and SSIM against the true middle frame:
``repeat`` (copy frame 0), ``average`` (mean of the inputs), ``flow-only`` (the flow network's
bidirectional splatting, no synthesis), ``static`` (the model, every patch through every block)
and ``apr`` (the model with routing). The model methods run through the same
:class:`~aprvfi_cli.engine.interpolator.Interpolator` as ``aprvfi convert`` (same tensors,
placement, precision and patch chunks), so their frames and seconds per pair (wall clock,
flow and context included) are what a user gets.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from aprvfi_cli.engine.interpolator import Interpolator
from aprvfi_cli.eval.metrics import psnr
from aprvfi_cli.eval.middlebury import Triplet
from aprvfi_cli.eval.paired import PairedGain
from aprvfi_cli.eval.ssim import ssim
from aprvfi_cli.model import Routing

METHODS = ("repeat", "average", "flow-only", "static", "apr")
MODEL_METHODS = ("flow-only", "static", "apr")


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
    flow_scale: str = ""  # the scale the flow ran at (``flow at 1/2 scale (auto)``)

    def to_dict(self) -> dict:
        return {
            "dataset": self.dataset,
            "layout": self.layout,
            "triplets": len(self.names),
            "skipped": self.skipped,
            "weights": self.weights,
            "device": self.device,
            "routing": self.routing,
            "flow_scale": self.flow_scale,
            "methods": {name: scores.summary() for name, scores in self.methods.items()},
            "gain_over_flow_only": {name: gain.to_dict() for name, gain in self.gains().items()},
            "per_triplet": [
                {"name": n, **{m: {"psnr": s.psnr[i], "ssim": s.ssim[i]} for m, s in self.methods.items()}}
                for i, n in enumerate(self.names)
            ],
        }

    def gains(self) -> dict[str, PairedGain]:
        """Each model method's PSNR gain over flow-only, paired per triplet (empty without flow-only)."""
        floor = self.methods.get("flow-only")
        if floor is None:
            return {}
        return {
            name: PairedGain.of(np.array(self.methods[name].psnr), np.array(floor.psnr))
            for name in ("static", "apr")
            if name in self.methods
        }


def method_interpolators(loaded: Interpolator, *, methods: Iterable[str] = MODEL_METHODS) -> dict[str, Interpolator]:
    """One :class:`Interpolator` per model method, all sharing ``loaded``'s model, placement and
    patch chunks (``loaded`` comes from :func:`~aprvfi_cli.engine.interpolator.load_model`);
    ``apr`` routes as ``loaded`` does.

    With flow-only weights (no trained synthesis), ``static`` and ``apr`` run the untrained
    synthesis head, whose output is the flow-only frame.
    """
    policies = {"flow-only": None, "static": Routing(mode="static"), "apr": loaded.routing}
    return {
        name: Interpolator(
            loaded.model,
            method="flow-only" if policies[name] is None else "model",
            placement=loaded.placement,
            routing=policies[name],
            max_patches=loaded.max_patches,
            origin=loaded.origin,
            flow_scale=loaded.flow_scale,
        )
        for name in MODEL_METHODS
        if name in methods
    }


@dataclass(frozen=True)
class Prediction:
    """One method's middle frame (H, W, 3) uint8, its wall-clock seconds and the share of
    dynamic-block patches it ran (None for flow-only)."""

    frame: np.ndarray
    seconds: float
    pass_fraction: float | None


def predict(interpolator: Interpolator, frame0: np.ndarray, frame1: np.ndarray) -> Prediction:
    """The frame at t = 0.5 through the interpolator's numpy path (``interpolate_pairs``'s)."""
    img0, img1 = interpolator.to_tensor([frame0]), interpolator.to_tensor([frame1])
    interpolator.placement.synchronize()
    start = time.perf_counter()
    frames, passed = interpolator.interpolate_with_routes(img0, img1, [[0.5]])
    interpolator.placement.synchronize()
    seconds = time.perf_counter() - start
    fraction = None if passed[0] is None else float(passed[0][0].float().mean())
    return Prediction(interpolator.to_images(frames[0], frame0.dtype)[0], seconds, fraction)


def evaluate(
    triplets: Iterable[Triplet],
    *,
    interpolators: dict[str, Interpolator],
    methods: tuple[str, ...] = METHODS,
    on_triplet: Callable[[str], None] | None = None,
) -> dict[str, MethodScores]:
    """Score every method on every triplet; returns per-method scores (names in input order).

    ``interpolators``: from :func:`method_interpolators`, one per model method in ``methods``.
    """
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise ValueError(f"unknown methods {sorted(unknown)}; choose from {', '.join(METHODS)}")
    scores = {name: MethodScores() for name in methods}
    for triplet in triplets:
        frames: dict[str, np.ndarray] = {}
        if "repeat" in methods:
            frames["repeat"] = triplet.frame0
        if "average" in methods:
            mean = (triplet.frame0.astype(np.uint16) + triplet.frame1.astype(np.uint16) + 1) // 2
            frames["average"] = mean.astype(np.uint8)
        for name in MODEL_METHODS:
            if name in methods:
                prediction = predict(interpolators[name], triplet.frame0, triplet.frame1)
                frames[name] = prediction.frame
                scores[name].seconds.append(prediction.seconds)
                if prediction.pass_fraction is not None:
                    scores[name].pass_fraction.append(prediction.pass_fraction)
        for name, image in frames.items():
            scores[name].psnr.append(psnr(image, triplet.truth))
            scores[name].ssim.append(ssim(image, triplet.truth))
        if on_triplet is not None:
            on_triplet(triplet.name)
    return scores
