"""Speed-up of one long video split across Ray workers, and the cost of each extra segment.

Makes a long clip from the example (carphone, 176x144 x2 = 352x288, played forward and back,
a keyframe every 24 frames), converts it to twice its rate locally and on a local Ray cluster
with 1 and 2 single-thread workers, and prints a markdown table. Times exclude starting Ray and
the workers (paid once per command: printed separately). The per-segment overhead is the
extra time of one worker doing the same clip in many segments instead of one.

Usage: python benchmarks/ray_speedup.py [--frames 64] [--segments 8] [--runs local|ray]
(pause other CPU work while it runs: the numbers are wall-clock times, best of --repeats)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "carphone.mp4"


def long_clip(target: Path, frames: int, scale: int = 2, keyframe_interval: int = 24) -> Path:
    """The example played forward and back until ``frames`` long, ``scale`` x larger, 29.97 fps."""
    with av.open(str(EXAMPLE)) as container:
        images = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    loop = images + images[-2:0:-1]
    rate = Fraction(30000, 1001)
    with av.open(str(target), mode="w") as out:
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height = images[0].shape[1] * scale, images[0].shape[0] * scale
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "16", "preset": "fast", "g": str(keyframe_interval)}
        for index in range(frames):
            image = np.repeat(np.repeat(loop[index % len(loop)], scale, axis=0), scale, axis=1)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = index
            frame.time_base = 1 / rate
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--segments", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=1, help="each time is the best of this many runs")
    parser.add_argument("--runs", choices=("all", "local", "ray"), default="all",
                        help="local or Ray runs only (to time each in a short window)")  # fmt: skip
    args = parser.parse_args()

    from aprvfi_cli.cluster.connect import WorkerShape, connect
    from aprvfi_cli.cluster.convert import convert_on_cluster
    from aprvfi_cli.cluster.plan import scan_source
    from aprvfi_cli.cluster.worker import ModelSpec, WorkerPool, resolve_model
    from aprvfi_cli.engine.interpolator import load_model
    from aprvfi_cli.engine.stream import JobOptions, Retime, process_video

    work = Path(tempfile.mkdtemp(prefix="aprvfi-ray-bench-"))
    source = long_clip(work / "long.mp4", args.frames)
    options = JobOptions(retime=Retime(fps=Fraction(60000, 1001)))
    start = time.perf_counter()
    plan = scan_source(source, options)
    scan = time.perf_counter() - start
    spec, description = resolve_model(ModelSpec(None, "cpu", "fp32"))
    print(
        f"clip: {args.frames} frames of 352x288 at 29.97 fps -> 59.94 fps ({len(plan.outputs)} frames), {description}"
    )
    print(f"driver's planning pass (decode + duplicate/cut checks): {scan:.2f} s\n", flush=True)
    print("| run | seconds | speed-up vs local, 2 threads |")
    print("|---|---:|---:|", flush=True)
    times: dict[str, float] = {}

    def row(label: str, run) -> None:
        best = float("inf")
        for repeat in range(args.repeats):
            begin = time.perf_counter()
            run(work / f"{len(times)}-{repeat}.mp4")
            best = min(best, time.perf_counter() - begin)
        times[label] = best
        base = times.get("local, 2 threads")
        speedup = f"{base / times[label]:.2f}x" if base else "-"
        print(f"| {label} | {times[label]:.1f} | {speedup} |", flush=True)

    for threads in (2, 1) if args.runs != "ray" else ():
        interpolator = load_model(None, "cpu", "fp32", threads=threads)
        row(f"local, {threads} thread{'s' if threads > 1 else ''}",
            lambda t, i=interpolator: process_video(source, t, interpolator=i, options=options))  # fmt: skip
    if args.runs == "local":
        return
    begin = time.perf_counter()
    ray = connect("", num_cpus=2, object_store_bytes=200 * 2**20)
    started = {"ray": time.perf_counter() - begin}
    for workers, segments in ((1, 1), (1, args.segments), (2, args.segments)):
        begin = time.perf_counter()
        with WorkerPool.start(ray, spec, WorkerShape(count=workers, cpus=1, gpus=0)) as pool:
            for actor in pool.actors:
                ray.get(actor.pid.remote())  # every worker is up and has loaded its model
            started[f"{workers} workers"] = time.perf_counter() - begin
            label = f"Ray, {workers} worker{'s' if workers > 1 else ''} x 1 thread, {segments} segments"
            row(label, lambda t, p=pool, s=segments: convert_on_cluster(source, t, pool=p, options=options, segments=s))
    ray.shutdown()
    one, many = (
        times["Ray, 1 worker x 1 thread, 1 segments"],
        times[f"Ray, 1 worker x 1 thread, {args.segments} segments"],
    )
    two = times[f"Ray, 2 workers x 1 thread, {args.segments} segments"]
    print(f"\n2 workers vs 1 worker ({args.segments} segments): {many / two:.2f}x; "
          f"overhead per extra segment: {(many - one) / (args.segments - 1):.2f} s; "
          f"starting Ray {started['ray']:.1f} s, a pool of 1 / 2 workers "
          f"{started['1 workers']:.1f} / {started['2 workers']:.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()
