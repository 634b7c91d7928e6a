"""End to end: a real clip through ``aprvfi convert`` and through ffmpeg minterpolate, same run.

The first ``--seconds`` of CLIP are decoded; every other frame is kept and encoded as a half-rate
clip (H.264, lossless), which both tools convert back to the full rate (x264, crf 18, as
``aprvfi convert`` encodes by default). Each inserted frame is scored by PSNR (RGB, 8-bit, whole
frame) against the original frame that was left out: the ``aprvfi eval VIDEO`` protocol, through
the whole command (decode, model, encode). Runs alternate (aprvfi, ffmpeg, aprvfi, ...) so that
the machine's load hits both alike; the load average is printed beside every run.

Usage: python benchmarks/end_to_end.py CLIP [--seconds 4] [--runs 3] [--aprvfi-args "--threads 2"]
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from aprvfi_cli.eval.metrics import psnr

MINTERPOLATE = "minterpolate=fps={fps}:mi_mode=mci:mc_mode=aobmc:me_mode=bidir"


def half_rate_clip(clip: Path, seconds: float, out: Path) -> tuple[list[np.ndarray], Fraction]:
    """Every frame of the first ``seconds`` (RGB), and ``out``: the even ones at half the rate."""
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        rate = Fraction(stream.average_rate)
        frames = []
        for frame in container.decode(stream):
            frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) >= round(seconds * rate):
                break
    height, width = frames[0].shape[:2]
    with av.open(str(out), mode="w") as container:
        stream = container.add_stream("libx264", rate=rate / 2)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv444p"
        stream.options = {"qp": "0", "preset": "ultrafast"}
        for image in frames[::2]:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return frames, rate


def inserted_psnr(output: Path, truth: list[np.ndarray]) -> dict[int, float]:
    """PSNR of output frames 1, 3, 5... against the left-out originals, by frame index."""
    scores = {}
    with av.open(str(output)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index % 2 == 1 and index < len(truth) - 1:
                scores[index] = psnr(frame.to_ndarray(format="rgb24"), truth[index])
    return scores


def load() -> str:
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip", type=Path)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--aprvfi-args", default="", help="extra options for aprvfi convert")
    parser.add_argument("--ffmpeg-threads", default=None, help="ffmpeg -threads (default: its own)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aprvfi-e2e-") as tmp:
        folder = Path(tmp)
        source = folder / "half.mp4"
        truth, rate = half_rate_clip(args.clip, args.seconds, source)
        height, width = truth[0].shape[:2]
        print(f"{args.clip.name}: {width}x{height}, {len(truth)} frames at {rate} fps; input: the even ones")
        commands = {
            "aprvfi convert": [sys.executable, "-m", "aprvfi_cli.cli", "convert", str(source), "--fps", str(rate),
                               "--crf", "18", "--overwrite", "-o", str(folder / "aprvfi.mp4"),
                               *shlex.split(args.aprvfi_args)],
            "ffmpeg minterpolate": ["ffmpeg", "-v", "error", "-y", "-i", str(source),
                                    *(["-threads", args.ffmpeg_threads] if args.ffmpeg_threads else []),
                                    "-vf", MINTERPOLATE.format(fps=rate), "-c:v", "libx264", "-crf", "18",
                                    "-pix_fmt", "yuv420p", str(folder / "ffmpeg.mp4")],
        }  # fmt: skip
        outputs = {"aprvfi convert": folder / "aprvfi.mp4", "ffmpeg minterpolate": folder / "ffmpeg.mp4"}
        seconds: dict[str, list[float]] = {name: [] for name in commands}
        note = ""
        for run in range(args.runs):
            for name, command in commands.items():
                before = load()
                start = time.perf_counter()
                done = subprocess.run(command, capture_output=True, text=True)
                elapsed = time.perf_counter() - start
                if done.returncode:
                    raise SystemExit(f"{name} failed: {done.stderr.strip()}")
                if name == "aprvfi convert":
                    note = " / ".join(line for line in done.stderr.splitlines() if "interpolated with" in line)
                seconds[name].append(elapsed)
                print(f"run {run + 1}, {name}: {elapsed:.1f} s ({before} before, {load()} after)")
        print(f"aprvfi's closing note: {note}")
        print("| tool | seconds (median of runs) | PSNR of the inserted frames, dB | frames scored |")
        print("|---|---|---|---|")
        scores = {name: inserted_psnr(outputs[name], truth) for name in commands}
        both = set.intersection(*(set(s) for s in scores.values()))  # frames every tool made
        for name in commands:
            mean = np.mean([scores[name][i] for i in sorted(both)])
            print(f"| {name} | {statistics.median(seconds[name]):.1f} | {mean:.2f} | {len(both)} |")


if __name__ == "__main__":
    main()
