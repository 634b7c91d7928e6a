"""Soak benchmark: peak memory must not grow with clip length; wall time per output frame.

Converts generated 160x120 clips (a moving square on a gradient, made with PyAV) of 500 and
10,000 frames from 30 to 60 fps with `aprvfi convert`, each in its own process, and reports
the process's peak RSS (``wait4``), its RSS over the first and second half of the run
(sampled from /proc), and wall time per output frame (model load included).

Usage: python benchmarks/soak_memory.py [--frames 500 10000] [--size 160x120] [--threads N]
Uses the shipped weights (flow-only without trained APR-VFI weights), or --weights FILE.
For timings, run it on a quiet machine (pause other work).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import av

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from conftest import pattern  # noqa: E402

ENTRY = "import sys; from aprvfi_cli.cli import main; sys.exit(main())"


def make_long_clip(path: Path, *, frames: int, width: int, height: int) -> Path:
    """``frames`` frames at 30 fps, H.264 (x264 ultrafast), no audio."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "18", "preset": "ultrafast"}
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(pattern(i, width=width, height=height), format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame.reformat(format="yuv420p")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def rss_mib(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def run_one(source: Path, target: Path, args: argparse.Namespace) -> dict[str, float]:
    """Convert in a child process; its peak RSS (MiB), RSS samples and wall time."""
    command = [sys.executable, "-c", ENTRY, "convert", str(source), "--fps", "60", "-o", str(target), "-q"]
    if args.weights:
        command += ["--weights", str(args.weights)]
    if args.threads:
        command += ["--threads", str(args.threads)]
    started = time.perf_counter()
    child = subprocess.Popen(command)
    samples: list[tuple[float, float]] = []

    def sample() -> None:
        while child.poll() is None:
            value = rss_mib(child.pid)
            if value is not None:
                samples.append((time.perf_counter() - started, value))
            time.sleep(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    sampler.join()
    if child.returncode != 0:
        raise SystemExit(f"soak: aprvfi convert failed with exit {child.returncode}")
    with av.open(str(target)) as container:
        frames_out = container.streams.video[0].frames
    half = wall / 2
    first = max((v for t, v in samples if t < half), default=float("nan"))
    second = max((v for t, v in samples if t >= half), default=float("nan"))
    return {"peak": usage.ru_maxrss / 1024, "first": first, "second": second, "wall": wall, "out": frames_out}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[500, 10000])
    parser.add_argument("--size", default="160x120")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--weights", type=Path, default=None)
    args = parser.parse_args()
    width, height = (int(x) for x in args.size.split("x"))
    print(f"soak: {args.size}, 30 -> 60 fps, threads {args.threads or 'default'}")
    print(
        "| frames in | frames out | peak RSS (MiB) | RSS 1st half / 2nd half (MiB) | wall (s) | ms per output frame |"
    )
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="aprvfi-soak-") as temp:
        for frames in args.frames:
            source = make_long_clip(Path(temp) / f"clip{frames}.mp4", frames=frames, width=width, height=height)
            r = run_one(source, Path(temp) / f"out{frames}.mp4", args)
            per_frame = 1000 * r["wall"] / r["out"]
            print(f"| {frames} | {r['out']} | {r['peak']:.0f} | {r['first']:.0f} / {r['second']:.0f} | "
                  f"{r['wall']:.1f} | {per_frame:.1f} |", flush=True)  # fmt: skip
            (Path(temp) / f"out{frames}.mp4").unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
