"""Quality against speed: PSNR on real footage against seconds per 1280x720 pair, every mode and the peers.

Seconds per pair come from an ``aprvfi bench --json`` file (one frame size, this CPU): flow-only at
each flow scale and at auto, static, APR at the dial's keep ratios, RIFE 4.0. PSNR is measured here,
on the same triplets for every method: f[2k], f[2k+2] -> f[2k+1] from the free clips (at most
``--per-clip`` per clip, native sizes), RGB, 8-bit, whole frame. ffmpeg minterpolate is scored on
the same triplets (``../shared/peers/ffmpeg_peer.py pair``); its seconds per pair are given with
``--minterpolate-seconds`` (from ``benchmarks/end_to_end.py``: whole-clip time over frames made).

Needs matplotlib: ``pip install "aprvfi[plot]"``.

Usage: python benchmarks/quality_speed_plot.py BENCH.json --size 1280x720 --out docs/quality_speed.png
           [--per-clip 2] [--minterpolate-seconds S] [--json scores.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from aprvfi_cli.engine.interpolator import Interpolator
from aprvfi_cli.eval.metrics import psnr
from aprvfi_cli.eval.rife_peer import load_rife, rife_available
from aprvfi_cli.eval.sets import open_eval_set
from aprvfi_cli.model import Routing
from aprvfi_cli.model.weights import resolve_weights
from aprvfi_cli.placement import resolve_placement
from aprvfi_cli.video.images import read_image, write_image

ROOT = Path(__file__).resolve().parents[1]
FREE_CLIPS = ROOT.parent / "shared" / "data" / "free_clips"
PEERS = ROOT.parent / "shared" / "peers"


def label(mode: str) -> str:
    """The legend's words for a bench mode."""
    if mode == "flow-only":
        return "flow-only, flow scale auto (the default)"
    if mode.startswith("flow-only "):
        scale = float(mode.split()[1])
        return f"flow-only, flow at {'full' if scale == 1 else f'1/{round(1 / scale)}'} scale"
    if mode == "apr":
        return "APR, default keep ratios"
    if mode.startswith("apr "):
        return f"APR, keep ratio {mode.split()[1]} (dial)"
    return mode


def interpolators(model, origin, placement, keep: tuple[float, ...], modes: list[str]) -> dict[str, Interpolator]:
    """An Interpolator for every aprvfi mode of the bench (flow-only at a scale, static, APR)."""
    made = {}
    for mode in modes:
        if mode.startswith("flow-only"):
            scale = "auto" if mode == "flow-only" else mode.split()[1]
            made[mode] = Interpolator(model, method="flow-only", placement=placement, origin=origin, flow_scale=scale)
            continue
        if mode == "static":
            routing = Routing(mode="static")
        elif mode == "apr":
            routing = Routing(mode="keep", keep_ratios=keep)
        elif mode.startswith("apr "):
            routing = Routing(mode="keep", keep_ratios=(float(mode.split()[1]),) * len(keep))
        else:
            continue
        made[mode] = Interpolator(model, method="model", placement=placement, routing=routing, origin=origin)
    return made


def minterpolate(frame0: np.ndarray, frame1: np.ndarray) -> np.ndarray:
    """ffmpeg minterpolate's middle frame, through the shared peer script."""
    with tempfile.TemporaryDirectory() as tmp:
        a, b, out = Path(tmp) / "a.png", Path(tmp) / "b.png", Path(tmp) / "mid.png"
        write_image(a, frame0)
        write_image(b, frame1)
        script = PEERS / "ffmpeg_peer.py"
        subprocess.run([sys.executable, str(script), "pair", str(a), str(b), str(out), "--method", "mci"],
                       check=True, capture_output=True)  # fmt: skip
        return read_image(out)


def plot(points: dict[str, tuple[float, float]], path: Path, *, title: str, caption: str) -> None:
    """A labelled scatter: seconds per pair (x) against PSNR (y), one marker per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(9, 5.6), dpi=120)
    markers = {"flow-only": "o", "static": "s", "APR": "^", "RIFE": "D", "ffmpeg": "P"}
    for name, (seconds, score) in points.items():
        marker = next((m for key, m in markers.items() if name.startswith(key)), "o")
        axes.scatter(seconds, score, s=70, marker=marker, label=f"{name}: {seconds:.2f} s, {score:.2f} dB", zorder=3)
    axes.set_xlabel("seconds per frame pair (this CPU)")
    axes.set_ylabel("PSNR, dB")
    figure.suptitle(title, fontsize=9.5)
    axes.grid(True, alpha=0.3)
    axes.set_xlim(left=0)
    axes.legend(fontsize=7.5, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    figure.text(0.01, 0.01, caption, fontsize=7.5, va="bottom", wrap=True)
    figure.tight_layout(rect=(0, 0.08, 1, 1))
    figure.savefig(path)
    plt.close(figure)


@torch.inference_mode()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bench", type=Path, help="JSON written by aprvfi bench --json")
    parser.add_argument("--size", default="1280x720", help="the bench size whose s/pair to plot")
    parser.add_argument("--weights", default=None, help="weights (default: what aprvfi uses)")
    parser.add_argument("--clips", type=Path, default=FREE_CLIPS)
    parser.add_argument("--per-clip", type=int, default=2)
    parser.add_argument("--minterpolate-seconds", type=float, default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write the scores")
    parser.add_argument("--out", type=Path, default=Path("quality_speed.png"))
    parser.add_argument(
        "--replot", type=Path, default=None, help="draw again: a --json file's PSNR at this bench file's seconds"
    )
    args = parser.parse_args()
    bench = json.loads(args.bench.read_text())
    seconds = {m["mode"]: m["time_s"] for m in bench["sizes"][args.size]["modes"] if m["mode"] != "flow+context"}
    if args.replot is not None:  # the saved PSNR of each method, at the seconds of this bench file
        saved = json.loads(args.replot.read_text())
        points = {
            label(name): (seconds.get(name, saved["points"][label(name)][0]), float(np.mean(values)))
            for name, values in saved["scores"].items()
            if values
        }
        plot(points, args.out, title=saved["title"], caption=saved["caption"])
        if args.json is not None:
            args.json.write_text(json.dumps({**saved, "points": points}, indent=1) + "\n")
        return
    placement = resolve_placement("cpu", bench.get("precision", "fp32"), args.threads)  # as the bench timed it
    model, origin = resolve_weights(args.weights)
    keep = tuple(bench.get("keep_ratios") or model.config.keep_ratios)
    ours = interpolators(model, origin, placement, keep, list(seconds))
    rife = load_rife(placement.device) if rife_available() and "RIFE 4.0" in seconds else None
    scores: dict[str, list[float]] = {name: [] for name in [*ours, "RIFE 4.0", "ffmpeg minterpolate"]}
    triplets, largest = 0, (0, 0)
    for clip in sorted(p for p in args.clips.iterdir() if p.is_file()):
        for triplet in open_eval_set(clip, limit=args.per_clip).triplets:
            triplets += 1
            largest = max(largest, triplet.frame0.shape[:2], key=lambda size: size[0] * size[1])
            for name, interpolator in ours.items():
                frame = interpolator.interpolate(triplet.frame0, triplet.frame1, 0.5)
                scores[name].append(psnr(frame, triplet.truth))
            if rife is not None:
                a, b = (torch.from_numpy(f).permute(2, 0, 1)[None] / 255 for f in (triplet.frame0, triplet.frame1))
                middle = rife(a, b)[0].clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).numpy()
                scores["RIFE 4.0"].append(psnr(middle, triplet.truth))
            if args.minterpolate_seconds is not None:
                scores["ffmpeg minterpolate"].append(psnr(minterpolate(triplet.frame0, triplet.frame1), triplet.truth))
    points = {}
    for name, values in scores.items():
        if not values:
            continue
        time_s = args.minterpolate_seconds if name == "ffmpeg minterpolate" else seconds[name]
        points[label(name)] = (time_s, float(np.mean(values)))
    same = [n for n in ("static", "apr") if n in scores and np.allclose(scores[n], scores["flow-only"], atol=0.01)]
    title = (
        f"PSNR on real footage ({triplets} triplets of the free clips, f[2k], f[2k+2] -> f[2k+1], native sizes up "
        f"to {largest[1]}x{largest[0]})\nagainst seconds per {args.size} frame pair on this CPU "
        f"({bench.get('threads')} threads, {bench.get('precision')})"
        + ("; untrained network: static and APR output the flow-only frame" if same else "")
    )
    caption = (
        ("No trained APR-VFI weights yet: static and APR ran the untrained synthesis, which outputs the "
         "flow-only frame, and scored its PSNR on every triplet.\n" if same else "")
        + "Seconds: aprvfi bench (random frames); ffmpeg minterpolate: a whole 720p clip's time over the frames "
        "it made (benchmarks/end_to_end.py). Up and left is better."
    )  # fmt: skip
    plot(points, args.out, title=title, caption=caption)
    print(f"weights: {origin.describe()}; {triplets} triplets; PNG: {args.out}")
    print("| method | s/pair | PSNR dB |")
    print("|---|---|---|")
    for name, (time_s, score) in points.items():
        print(f"| {name} | {time_s:.3f} | {score:.2f} |")
    if args.json is not None:
        record = {"triplets": triplets, "title": title, "caption": caption, "points": points, "scores": scores}
        args.json.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
