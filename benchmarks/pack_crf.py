"""Bytes and fidelity of the travel pack against libx264's CRF and preset (how `aprvfi data pack` chose them).

Usage:
    python3 benchmarks/pack_crf.py --dir CACHE --clips DIR [--clips DIR] --crf 16,18,20,23 --preset slow \
        [--only NAME,NAME] [--json OUT]

Each clip's frames are those the pack keeps (its default settings: every usable training triplet, at most
24 dev triplets, 512 px), encoded once per CRF; PSNR is that of all the decoded frames together against the
downscaled originals (what the pack's manifest records per clip).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from aprvfi_cli.data.pack_build import PackSettings, encode, gather_frames, plan_clip
from aprvfi_cli.data.pack_sources import cache_clips, folder_clips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", type=Path, required=True, help="prepared cache")
    parser.add_argument("--clips", type=Path, action="append", default=[], help="clip folder (repeatable)")
    parser.add_argument("--crf", default="16,18,20,23")
    parser.add_argument("--preset", default="slow", help="comma-separated libx264 presets")
    parser.add_argument("--only", help="comma-separated clip names (the pack's names) to measure")
    parser.add_argument("--json", type=Path, help="write per-clip numbers here")
    args = parser.parse_args()
    crfs = [int(c) for c in args.crf.split(",")]
    presets = args.preset.split(",")
    clips = cache_clips(args.dir) + [c for d in args.clips for c in folder_clips(d)]
    if args.only:
        clips = [c for c in clips if c.name in args.only.split(",")]
    base = PackSettings()
    rows: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as work:
        for clip in clips:
            plan = plan_clip(clip, base)
            frames = gather_frames(clip.path, sorted({i for t in plan.train + plan.dev for i in t}), base.max_side)
            row = rows.setdefault(clip.name, {"frames": len(frames)})
            for preset in presets:
                for crf in crfs:
                    target = Path(work) / f"{clip.name}.mp4"
                    start = time.perf_counter()
                    score = encode(frames, target, replace(base, crf=crf, preset=preset))
                    row[f"{preset}/{crf}"] = {
                        "bytes": target.stat().st_size,
                        "psnr": score,
                        "seconds": time.perf_counter() - start,
                    }
            print(clip.name, json.dumps(row), flush=True)
    frames = sum(r["frames"] for r in rows.values())
    print(f"\n{len(rows)} clips, {frames} frames")
    print("| preset | CRF | MiB | KiB/frame | PSNR dB (mean of clips by frames) | lowest clip dB | encode+check s |")
    print("|---|---|---|---|---|---|---|")
    for preset in presets:
        for crf in crfs:
            key = f"{preset}/{crf}"
            size = sum(r[key]["bytes"] for r in rows.values())
            psnr = sum(r[key]["psnr"] * r["frames"] for r in rows.values()) / frames
            lowest = min(r[key]["psnr"] for r in rows.values())
            seconds = sum(r[key]["seconds"] for r in rows.values())
            print(
                f"| {preset} | {crf} | {size / 2**20:.1f} | {size / frames / 1024:.2f} | {psnr:.2f} | "
                f"{lowest:.2f} | {seconds:.0f} |"
            )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=float))


if __name__ == "__main__":
    main()
