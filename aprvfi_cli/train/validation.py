"""Validation on held-back triplets of the training material (runs without a store)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from aprvfi_cli.eval.metrics import frame_psnr, to_uint8
from aprvfi_cli.model import APRVFI, Routing
from aprvfi_cli.placement import Placement
from aprvfi_cli.train.dataset import Sample


@torch.no_grad()
def score_samples(
    model: APRVFI, samples: Sequence[Sample], *, placement: Placement, routed: bool, flow_only: bool
) -> dict[str, float]:
    """Mean PSNR (8-bit RGB, dB) of ``model`` on ``samples``.

    Returns ``static_psnr``; with ``routed`` also ``apr_psnr`` and ``apr_pass_fraction`` (the share
    of dynamic-block patches APR runs); with ``flow_only`` also ``flow_only_psnr``, the floor.
    """
    model.eval()
    scores: dict[str, list[float]] = {"static": [], "apr": [], "flow_only": [], "apr_pass": []}
    for sample in samples:
        frame0, frame1 = (x[None].to(placement.device) for x in (sample.frame0, sample.frame1))
        truth = to_uint8(sample.truth.permute(1, 2, 0).numpy())
        with placement.autocast():
            pair = model.estimate(frame0, frame1)
            outputs = {"static": model.synthesize(pair, sample.t, routing=Routing(mode="static")).frame}
            if flow_only:
                outputs["flow_only"] = model.flow_only(pair, sample.t)
            if routed:
                result = model.synthesize(pair, sample.t, routing=Routing(mode="apr"))
                outputs["apr"] = result.frame
                scores["apr_pass"].append(result.route_map.float().mean().item())
        for name, frame in outputs.items():
            scores[name].append(frame_psnr(frame, truth))
    means = {"static_psnr": float(np.mean(scores["static"]))}
    if flow_only:
        means["flow_only_psnr"] = float(np.mean(scores["flow_only"]))
    if routed:
        means.update(apr_psnr=float(np.mean(scores["apr"])), apr_pass_fraction=float(np.mean(scores["apr_pass"])))
    return means
