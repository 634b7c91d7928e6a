"""Flow-only quality and flow time at each flow scale, on real footage at native sizes (issue 21).

For every triplet of every set, flow-only interpolation (t = 0.5) with the flow estimated at each
of ``--scales`` (1, 0.5, 0.25, auto), scored by PSNR (RGB, 8-bit, whole frame) against the true
middle frame; each scale's gain over full scale is paired per triplet with a 95 % interval
(:class:`~aprvfi_cli.eval.paired.PairedGain`). Also per triplet: the seconds of the flow estimate
alone, and the motion the 1/4-scale flow sees (in full-frame pixels), which ``auto`` may use.

Sets (``--sets``):
  middlebury  Middlebury "other", 12 official triplets
  sintel      the 10 Sintel frames: (f[k], f[k+2] -> f[k+1])
  free        every clip of shared/data/free_clips, f[2k], f[2k+2] -> f[2k+1] (``aprvfi eval VIDEO``)
  dev         the training clips' held-back tails (last 20 %, as a store's dev split), same protocol,
              clips of shared/data/train_clips and of the prepared cache that are not also free clips
  dev512      the same triplets area-downscaled to 512 px on the longer side (the training store's size)
  1080p       the free clips that are 1920x1080 or larger (native)
  4k-up       1080p frames upscaled x2 (bicubic) to 3840x2160: NOT native footage, labelled so

Usage: python benchmarks/flow_scale_study.py [--sets ...] [--per-clip 16] [--json out.json]
       python benchmarks/flow_scale_study.py --table out.json   (print the table of a saved run)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from aprvfi_cli.data.store import downscale
from aprvfi_cli.eval.metrics import psnr
from aprvfi_cli.eval.middlebury import Triplet, middlebury_triplets
from aprvfi_cli.eval.paired import PairedGain
from aprvfi_cli.eval.sets import open_eval_set
from aprvfi_cli.model.flow_scale import auto_flow_scale, check_flow_scale
from aprvfi_cli.model.weights import flow_only_model
from aprvfi_cli.placement import resolve_placement

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
CACHE_CLIPS = ROOT.parent / "main" / "cache" / "clips"
VIDEO_SUFFIXES = {".mp4", ".mkv", ".webm", ".avi", ".mov", ".mpg", ".ogv"}
SET_NAMES = ("middlebury", "sintel", "free", "dev", "dev512", "1080p", "4k-up")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _videos(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES) if folder.is_dir() else []


def dev_clips(data: Path, cache_clips: Path) -> list[Path]:
    """Training clips (shared train_clips, then the cache's), each content once, none that is a free clip."""
    seen = {_sha(p) for p in _videos(data / "free_clips")}
    clips = []
    for clip in _videos(data / "train_clips") + _videos(cache_clips):
        digest = _sha(clip)
        if digest not in seen:
            seen.add(digest)
            clips.append(clip)
    return clips


def _clip_size(path: Path) -> tuple[int, int]:
    import av

    with av.open(str(path)) as container:
        context = container.streams.video[0].codec_context
        return context.height, context.width


def triplets(name: str, *, data: Path, cache_clips: Path, per_clip: int | None) -> Iterator[Triplet]:
    """The triplets of one set (see the module doc)."""
    if name == "middlebury":
        yield from middlebury_triplets(data / "middlebury_other")
    elif name == "sintel":
        yield from open_eval_set(data / "sintel_raft_demo").triplets
    elif name == "free":
        for clip in _videos(data / "free_clips"):
            yield from open_eval_set(clip, limit=per_clip).triplets
    elif name in ("dev", "dev512"):
        for clip in dev_clips(data, cache_clips):
            for triplet in open_eval_set(clip, limit=per_clip, tail=0.2).triplets:
                if name == "dev512":
                    frames = (downscale(f, 512) for f in (triplet.frame0, triplet.truth, triplet.frame1))
                    triplet = Triplet(triplet.name, *frames)
                yield triplet
    elif name in ("1080p", "4k-up"):
        for clip in _videos(data / "free_clips"):
            if min(_clip_size(clip)) < 1080:
                continue
            for triplet in open_eval_set(clip, limit=per_clip if name == "1080p" else 6).triplets:
                if name == "4k-up":
                    frames = (_upscale2(f) for f in (triplet.frame0, triplet.truth, triplet.frame1))
                    triplet = Triplet(triplet.name, *frames)
                yield triplet
    else:
        raise ValueError(f"unknown set {name!r}; choose from {', '.join(SET_NAMES)}")


def _upscale2(image: np.ndarray) -> np.ndarray:
    tensor = torch.from_numpy(image).permute(2, 0, 1)[None].float()
    big = F.interpolate(tensor, scale_factor=2, mode="bicubic", align_corners=False)
    return big[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()


def _motion(flow: torch.Tensor, size: tuple[int, int]) -> dict[str, float]:
    """Percentiles of the vector length (px of the full frame) over both directions, content only."""
    content = flow[0, :, : size[0], : size[1]].float()
    length = torch.cat([content[:2].norm(dim=0).flatten(), content[2:].norm(dim=0).flatten()])
    q = torch.quantile(length[:: max(1, length.numel() // 200_000)], torch.tensor([0.5, 0.9, 0.99]))
    return {"p50": float(q[0]), "p90": float(q[1]), "p99": float(q[2]), "mean": float(length.mean())}


def backwarp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """``image`` (B, C, H, W) sampled at p + flow(p) (bilinear, border): where p's content is in ``image``."""
    height, width = image.shape[-2:]
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=flow.dtype), torch.arange(width, dtype=flow.dtype), indexing="ij"
    )
    grid_x = (xs + flow[:, 0]) * (2 / max(width - 1, 1)) - 1
    grid_y = (ys + flow[:, 1]) * (2 / max(height - 1, 1)) - 1
    grid = torch.stack([grid_x, grid_y], dim=-1)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)


def softmax_frame(image0: torch.Tensor, image1: torch.Tensor, flow: torch.Tensor, t: float, alpha: float):
    """Occlusion-aware flow-only blend (the issue's trial): each frame splatted with weight
    exp(-alpha |I0 - backwarp(I1, F01)|) (mean over channels, [0, 1] images) times its time
    weight, both frames normalised jointly; the plain blend where nothing lands."""
    from aprvfi_cli.ops.splat import forward_splat

    z0 = torch.exp(-alpha * (image0 - backwarp(image1, flow[:, :2])).abs().mean(1, keepdim=True))
    z1 = torch.exp(-alpha * (image1 - backwarp(image0, flow[:, 2:])).abs().mean(1, keepdim=True))
    splat0 = forward_splat(image0, t * flow[:, :2], weight=(1 - t) * z0)
    splat1 = forward_splat(image1, (1 - t) * flow[:, 2:], weight=t * z1)
    total = splat0.weight + splat1.weight
    joint = (splat0.image * splat0.weight + splat1.image * splat1.weight) / total.clamp_min(1e-12)
    return torch.where(total > 0, joint, (1 - t) * image0 + t * image1)


@torch.inference_mode()
def score(model, placement, triplet: Triplet, scales: list[float | str], softmax: tuple[float, ...] = ()) -> dict:
    """One triplet: per scale PSNR, flow seconds, the scale run; the motion of the 1/4 and full flows;
    with ``softmax`` alphas, also the occlusion-aware blend's PSNR at each scale (``"0.5/softmax5"``)."""

    def tensor(image: np.ndarray) -> torch.Tensor:
        return placement.to(torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255)

    img0, img1 = tensor(triplet.frame0), tensor(triplet.frame1)
    record: dict = {"name": triplet.name, "size": list(triplet.frame0.shape[:2]), "scales": {}}
    for scale in scales:
        start = time.perf_counter()
        pair = model.estimate(img0, img1, context=False, flow_scale=scale)
        seconds = time.perf_counter() - start
        frame = model.flow_only(pair, 0.5)
        image = frame[0].clamp(0, 1).mul(255).round().permute(1, 2, 0).to(torch.uint8).cpu().numpy()
        record["scales"][str(scale)] = {
            "psnr": psnr(image, triplet.truth),
            "flow_s": seconds,
            "ran": pair.flow_scales[0],
        }
        if scale in (0.25, 1.0):
            record[f"motion_{scale:g}"] = _motion(pair.flow, pair.size)
        crop = (..., slice(0, pair.size[0]), slice(0, pair.size[1]))
        for alpha in softmax:
            frame = softmax_frame(pair.image0[crop], pair.image1[crop], pair.flow[crop], 0.5, alpha)
            image = frame[0].clamp(0, 1).mul(255).round().permute(1, 2, 0).to(torch.uint8).cpu().numpy()
            record["scales"][f"{scale}/softmax{alpha:g}"] = {"psnr": psnr(image, triplet.truth), "flow_s": seconds}
    return record


def _base(key: str, reference: str) -> str:
    """What a column is paired against: the reference scale, or for a blend the average blend at its own scale."""
    return key.split("/")[0] if "/" in key else reference


def with_auto(records: list[dict], scales: list[str]) -> list[str]:
    """Add ``auto`` to records that ran 1, 0.5 and 0.25 but not auto: the result of the scale
    :func:`auto_flow_scale` picks for the frame's size, which is what auto computes (tested bit for bit)."""
    if "auto" in scales or not {"1.0", "0.5", "0.25"} <= set(scales):
        return scales
    for record in records:
        picked = auto_flow_scale(*record["size"])
        record["scales"]["auto"] = {**record["scales"][str(picked)], "ran": picked}
    return [*scales, "auto"]


def summarise(records: list[dict], scales: list[str]) -> list[str]:
    """Markdown rows: set, triplets, sizes, PSNR at full scale, each other scale's paired gain, flow time."""
    scales = with_auto(records, scales)
    by_set: dict[str, list[dict]] = {}
    for record in records:
        by_set.setdefault(record["set"], []).append(record)
    reference = "1.0" if "1.0" in scales else scales[0]
    head = ["set", "triplets", "frame sizes", f"PSNR s={reference}"]
    head += [f"s={s} - s={_base(s, reference)} [95 %]" for s in scales if s != reference]
    head += [f"flow s, s={s}" for s in scales if "/" not in s]
    head += ["auto ran"] if "auto" in scales else []
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, group in by_set.items():
        sizes = sorted({f"{r['size'][1]}x{r['size'][0]}" for r in group}, key=lambda s: -int(s.split("x")[0]))
        shown = ", ".join(sizes[:3]) + (f" +{len(sizes) - 3}" if len(sizes) > 3 else "")
        full = np.array([r["scales"][reference]["psnr"] for r in group])
        cells = [name, str(len(group)), shown, f"{np.mean(full[np.isfinite(full)]):.2f}"]
        for s in scales:
            if s != reference:
                base = np.array([r["scales"][_base(s, reference)]["psnr"] for r in group])
                cells.append(str(PairedGain.of(np.array([r["scales"][s]["psnr"] for r in group]), base)))
        for s in scales:
            if "/" not in s:
                cells.append(f"{statistics.median(r['scales'][s]['flow_s'] for r in group):.3f}")
        if "auto" in scales:
            ran = [r["scales"]["auto"]["ran"] for r in group]
            cells.append(", ".join(f"{s:g}: {ran.count(s)}" for s in sorted(set(ran), reverse=True)))
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="middlebury,sintel,free,dev,dev512,1080p,4k-up")
    parser.add_argument("--scales", default="1,0.5,0.25,auto")
    parser.add_argument("--softmax", default="", help="also the occlusion-aware blend at these alphas (5,20)")
    parser.add_argument("--per-clip", type=int, default=16, help="at most this many triplets per clip")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--cache-clips", type=Path, default=CACHE_CLIPS)
    parser.add_argument("--json", type=Path, default=None, help="write every triplet's numbers here (appended per set)")
    parser.add_argument("--table", type=Path, default=None, help="only print the table of a saved --json")
    args = parser.parse_args()
    scales = [check_flow_scale(s) for s in args.scales.split(",")]
    alphas = tuple(float(a) for a in args.softmax.split(",") if a.strip())
    keys = [str(s) for s in scales] + [f"{s}/softmax{a:g}" for s in scales for a in alphas]
    if args.table is not None:
        print("\n".join(summarise(json.loads(args.table.read_text())["records"], keys)))
        return
    placement = resolve_placement("cpu", "fp32", args.threads)
    model = placement.to(flow_only_model().eval())
    records: list[dict] = []
    for name in args.sets.split(","):
        start = time.perf_counter()
        for triplet in triplets(name, data=args.data, cache_clips=args.cache_clips, per_clip=args.per_clip):
            records.append({"set": name, **score(model, placement, triplet, scales, alphas)})
        print(f"{name}: {sum(r['set'] == name for r in records)} triplets in {time.perf_counter() - start:.0f} s")
        if args.json is not None:
            args.json.write_text(json.dumps({"scales": keys, "records": records}) + "\n")
    print(f"flow-only, {placement.describe()}; flow s: the estimate alone, median per triplet")
    print("\n".join(summarise(records, keys)))


if __name__ == "__main__":
    main()
