"""Scoring on the store's development set: held-back real footage, whole frames, paired against flow-only.

The dev set decides what ships, so its number must tell +0.1 dB from noise: every triplet is
scored by the model and by flow-only on the same flow, and the gain is reported as a paired mean
with a 95% interval (normal approximation, n >= 200), overall and per clip.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from aprvfi_cli.data.store import Store
from aprvfi_cli.eval.metrics import frame_psnr
from aprvfi_cli.eval.paired import PairedGain
from aprvfi_cli.model import APRVFI, Routing
from aprvfi_cli.placement import Placement


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


def _tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].float().div(255)


@torch.no_grad()
def score_dev(
    model: APRVFI,
    store: Store,
    *,
    routings: dict[str, Routing],
    placement: Placement,
    limit_per_group: int | None = None,
) -> DevReport:
    """Score every dev triplet (at most ``limit_per_group`` per clip, evenly spread) with flow-only and
    with each named routing, all on the store's whole-frame flow."""
    model.eval()
    report = DevReport(
        psnr={"flow_only": [], **{name: [] for name in routings}},
        patches_run={name: [] for name in routings if routings[name].mode != "static"},
    )
    for triplet in store.iter_split("dev", limit_per_group=limit_per_group):
        frame0, frame1 = (placement.to(_tensor(f)) for f in (triplet.frame0, triplet.frame1))
        flow = placement.to(torch.from_numpy(np.array(triplet.flow))[None].float())
        with placement.autocast():
            pair = model.estimate(frame0, frame1, flow=flow)
            outputs = {"flow_only": model.flow_only(pair, triplet.t)}
            for name, routing in routings.items():
                result = model.synthesize(pair, triplet.t, routing=routing, channels_last=placement.channels_last)
                outputs[name] = result.frame
                if name in report.patches_run:
                    report.patches_run[name].append(result.route_map.float().mean().item())
        truth = np.asarray(triplet.truth)
        for name, frame in outputs.items():
            report.psnr[name].append(frame_psnr(frame, truth))
        report.groups.append(triplet.group.removeprefix("dev-"))
    return report
