"""Scoring on the store's development set: held-back real footage, whole frames, paired against flow-only.

The dev set decides what ships, so its number must tell +0.1 dB from noise: every triplet is
scored by the model and by flow-only on the same flow, and the gain is reported as a paired mean
with a 95% interval (normal approximation, n >= 200), overall and per clip.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from aprvfi_cli.eval.metrics import batch_psnr
from aprvfi_cli.eval.paired import PairedGain
from aprvfi_cli.model import APRVFI, Routing
from aprvfi_cli.placement import Placement

if TYPE_CHECKING:
    from aprvfi_cli.data.store import Store


@dataclass(frozen=True)
class DevBatch:
    """Whole-frame dev triplets of one frame size on the scoring device.

    Attributes:
        frame0, frame1: (B, 3, H, W) inputs in [0, 1].
        truth: (B, 3, H, W) uint8 middle frames.
        flow: (B, 4, H, W) the stored whole-frame flow, F01 (x, y), F10 (x, y) in pixels.
        t: (B,) time of the truth.
        clips: each triplet's clip name (gains are reported per clip).
    """

    frame0: Tensor
    frame1: Tensor
    truth: Tensor
    flow: Tensor
    t: Tensor
    clips: list[str]


@dataclass
class DevReport:
    """Per-triplet PSNRs (dB) by method ("flow_only", and each routing's name), the group of each
    triplet, and the share of dynamic-block patches each routed method ran."""

    groups: list[str] = field(default_factory=list)
    psnr: dict[str, list[float]] = field(default_factory=dict)
    patches_run: dict[str, list[float]] = field(default_factory=dict)

    def gain(self, method: str) -> PairedGain:
        return PairedGain.of(np.array(self.psnr[method]), np.array(self.psnr["flow_only"]))

    def gain_by_group(self, method: str) -> dict[str, PairedGain]:
        groups = np.array(self.groups)
        return {
            g: PairedGain.of(np.array(self.psnr[method])[groups == g], np.array(self.psnr["flow_only"])[groups == g])
            for g in dict.fromkeys(self.groups)
        }

    def summary(self) -> dict[str, float | int]:
        """Flat numbers for a log line: mean PSNR, gain and interval, worst clip's gain, patches run."""
        out: dict[str, float | int] = {
            "dev_triplets": len(self.groups),
            "dev_flow_only_psnr": float(np.mean(self.psnr["flow_only"])),
        }
        for method in self.psnr:
            if method == "flow_only":
                continue
            gain = self.gain(method)
            out.update(
                {
                    f"dev_{method}_psnr": float(np.mean(self.psnr[method])),
                    f"dev_{method}_gain": gain.mean,
                    f"dev_{method}_gain_low": gain.low,
                    f"dev_{method}_gain_high": gain.high,
                    f"dev_{method}_worst_clip_gain": min(g.mean for g in self.gain_by_group(method).values()),
                }
            )
            if self.patches_run.get(method):
                out[f"dev_{method}_patches_run"] = float(np.mean(self.patches_run[method]))
        return out


def store_dev_batches(store: Store, *, placement: Placement, limit_per_group: int | None = None) -> Iterator[DevBatch]:
    """The store's dev triplets one at a time (at most ``limit_per_group`` per clip, evenly spread)."""

    def tensor(image: np.ndarray) -> Tensor:
        return placement.to(torch.from_numpy(np.array(image)).permute(2, 0, 1)[None])

    for triplet in store.iter_split("dev", limit_per_group=limit_per_group):
        yield DevBatch(
            frame0=tensor(triplet.frame0).float().div(255),
            frame1=tensor(triplet.frame1).float().div(255),
            truth=tensor(triplet.truth),
            flow=placement.to(torch.from_numpy(np.array(triplet.flow))[None].float()),
            t=torch.full((1,), triplet.t, device=placement.device),
            clips=[triplet.group.removeprefix("dev-")],
        )


@torch.no_grad()
def score_dev(
    model: APRVFI,
    batches: Iterable[DevBatch],
    *,
    routings: dict[str, Routing],
    placement: Placement,
) -> DevReport:
    """Score every dev triplet with flow-only and with each named routing, all on the stored whole-frame flow."""
    model.eval()
    report = DevReport(
        psnr={"flow_only": [], **{name: [] for name in routings}},
        patches_run={name: [] for name in routings if routings[name].mode != "static"},
    )
    for batch in batches:
        with placement.autocast():
            pair = model.estimate(batch.frame0, batch.frame1, flow=batch.flow)
            outputs = {"flow_only": model.flow_only(pair, batch.t)}
            for name, routing in routings.items():
                result = model.synthesize(
                    pair,
                    batch.t,
                    routing=routing,
                    max_patches=placement.patch_batch,
                    channels_last=placement.channels_last,
                )
                outputs[name] = result.frame
                if name in report.patches_run:
                    report.patches_run[name].extend(result.route_map.flatten(1).float().mean(dim=1).tolist())
        for name, frame in outputs.items():
            report.psnr[name].extend(batch_psnr(frame, batch.truth).tolist())
        report.groups.extend(batch.clips)
    return report
