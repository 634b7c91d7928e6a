"""PSNR on Middlebury "other" against seconds per pair: the APR dial points, flow-only and the peers.

Seconds per pair come from an ``aprvfi bench --json`` file (one frame size); PSNR is measured
here, on the 12 Middlebury "other" triplets, for each of the bench's modes with the given
weights. The peers' PSNR is their published score on the same set (``../shared/peers``).
The PNG is drawn with numpy only (matplotlib is not a dependency): points and axes with their
tick values; the legend (colour -> mode) is printed with the table.

Usage: python benchmarks/quality_speed_plot.py BENCH.json --size 1280x720 --out docs/quality_speed.png
"""

from __future__ import annotations

import argparse
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from aprvfi_cli.eval.metrics import psnr, to_uint8
from aprvfi_cli.eval.middlebury import middlebury_triplets
from aprvfi_cli.model import Routing
from aprvfi_cli.model.weights import resolve_weights

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "middlebury_other"
PEER_PSNR = {"RIFE 4.0": 33.16}  # ../shared/peers/README.md, Middlebury "other", same metric
COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75), (0, 0, 0)]
# 3x5 digits for the tick labels.
GLYPHS = {
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111", "3": "111001111001111",
    "4": "101101111001001", "5": "111100111001111", "6": "111100111101111", "7": "111001001001001",
    "8": "111101111101111", "9": "111101111001111", ".": "000000000000010",
}  # fmt: skip


def routing_for(mode: str, dynamic_blocks: int, keep_ratios: tuple[float, ...]) -> Routing | None:
    """The routing a bench mode names; None for flow-only."""
    if mode == "flow-only":
        return None
    if mode == "static":
        return Routing(mode="static")
    if mode == "apr":
        return Routing(mode="keep", keep_ratios=keep_ratios)
    ratio = float(mode.split()[1])
    return Routing(mode="keep", keep_ratios=(ratio,) * dynamic_blocks)


@torch.no_grad()
def middlebury_psnr(model, routing: Routing | None, data: Path) -> float:
    """Mean PSNR over the Middlebury "other" triplets (whole frame, 8-bit RGB)."""
    scores = []
    for triplet in middlebury_triplets(data):
        img0, img1 = (
            torch.from_numpy(f).permute(2, 0, 1)[None].float() / 255 for f in (triplet.frame0, triplet.frame1)
        )
        if routing is None:
            frame = model.flow_only(model.estimate(img0, img1, context=False))
        else:
            frame = model.synthesize(model.estimate(img0, img1), 0.5, routing=routing).frame
        scores.append(psnr(to_uint8(frame[0].permute(1, 2, 0).numpy()), triplet.truth))
    return float(np.mean(scores))


def draw_text(canvas: np.ndarray, text: str, x: int, y: int, scale: int = 2) -> None:
    for i, char in enumerate(text):
        bits = GLYPHS.get(char)
        if bits is None:
            continue
        glyph = np.array([int(b) for b in bits], dtype=bool).reshape(5, 3).repeat(scale, 0).repeat(scale, 1)
        left = x + i * 4 * scale
        canvas[y : y + glyph.shape[0], left : left + glyph.shape[1]][glyph] = 0


def plot(points: list[tuple[str, float, float]], path: Path, size: tuple[int, int] = (640, 420)) -> None:
    """Scatter (label, seconds, psnr) points into an RGB PNG at ``path``."""
    width, height = size
    canvas = np.full((height, width, 3), 255, dtype=np.uint8)
    margin = 60
    xs, ys = np.array([p[1] for p in points]), np.array([p[2] for p in points])
    x_range = (0.0, float(xs.max()) * 1.1)
    y_range = (float(np.floor(ys.min() - 0.5)), float(np.ceil(ys.max() + 0.5)))

    def to_pixel(x: float, y: float) -> tuple[int, int]:
        px = margin + (x - x_range[0]) / (x_range[1] - x_range[0]) * (width - 2 * margin)
        py = height - margin - (y - y_range[0]) / (y_range[1] - y_range[0]) * (height - 2 * margin)
        return int(round(px)), int(round(py))

    canvas[height - margin, margin : width - margin] = 0  # x axis (s/pair)
    canvas[margin : height - margin, margin] = 0  # y axis (PSNR dB)
    for tick in np.linspace(*x_range, 5):
        px, py = to_pixel(tick, y_range[0])
        canvas[py : py + 5, px] = 0
        draw_text(canvas, f"{tick:.1f}", px - 10, py + 10)
    for tick in np.arange(y_range[0], y_range[1] + 0.01, 1.0):
        px, py = to_pixel(x_range[0], tick)
        canvas[py, px - 5 : px] = 0
        draw_text(canvas, f"{tick:.0f}", px - 30, py - 5)
    for i, (_, x, y) in enumerate(points):
        px, py = to_pixel(x, y)
        canvas[max(py - 4, 0) : py + 5, max(px - 4, 0) : px + 5] = COLOURS[i % len(COLOURS)]
    write_png(canvas, path)


def write_png(image: np.ndarray, path: Path) -> None:
    """An 8-bit RGB PNG, no filter: the format needs only zlib and CRCs."""
    height, width, _ = image.shape
    raw = b"".join(b"\x00" + image[row].tobytes() for row in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bench", type=Path, help="JSON written by aprvfi bench --json")
    parser.add_argument("--size", default="1280x720", help="the bench size whose s/pair to plot")
    parser.add_argument("--weights", default=None, help="weights spec (default: what aprvfi uses)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=Path("quality_speed.png"))
    args = parser.parse_args()
    bench = json.loads(args.bench.read_text())
    modes = {m["mode"]: m["time_s"] for m in bench["sizes"][args.size]["modes"]}
    model, origin = resolve_weights(args.weights)
    model = model.eval()
    keep = tuple(bench.get("keep_ratios") or model.config.keep_ratios)
    points = []
    for mode, seconds in modes.items():
        if mode == "flow+context":
            continue
        if mode in PEER_PSNR:
            points.append((mode, seconds, PEER_PSNR[mode]))
            continue
        routing = routing_for(mode, model.config.num_dynamic_blocks, keep)
        points.append((mode, seconds, middlebury_psnr(model, routing, args.data)))
    plot(points, args.out)
    print(f"weights: {origin}; s/pair at {args.size} from {args.bench}; PNG: {args.out}")
    print("| colour (RGB) | mode | s/pair | Middlebury PSNR |")
    print("|---|---|---|---|")
    for i, (mode, seconds, score) in enumerate(points):
        print(f"| {COLOURS[i % len(COLOURS)]} | {mode} | {seconds:.2f} | {score:.2f} |")


if __name__ == "__main__":
    main()
