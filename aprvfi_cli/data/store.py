"""The prepared training store: frames, whole-frame EBME flow and flow-only error, memory-mapped.

Stages 2 and 3 freeze the flow network, so its output is computed once here, on the *whole*
frame as at inference (a flow estimated on a 64-px crop would lose every motion that leaves the
crop, and the network would learn to fix errors it never meets). Steps then crop frames and flow
together and run only context, warping, router and synthesis.

Layout of ``STORE/`` (one group = one clip's training part, its held-back part, or the synthetic set)::

    meta.json                  settings, and per group: name, split (train | dev), size, count
    GROUP.frames.npy           (F, H, W, 3) uint8 RGB
    GROUP.triplets.npy         (N, 3) int32 frame indices (input 0, truth, input 1)
    GROUP.t.npy                (N,) float32 time of the truth between the inputs
    GROUP.flow.npy             (N, 4, H, W) float16: F01 (x, y), F10 (x, y) in pixels
    GROUP.error.npy            (N, H // cell, W // cell) float32: flow-only squared error per cell

The held-back (dev) part of every clip is its last ``dev_fraction`` of frames, after a gap, so no
dev frame is a training input or truth. The dev set is real footage only: it decides what ships.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from aprvfi_cli.data.decode import clip_rate, iter_frames
from aprvfi_cli.data.holdout import check_not_held_out
from aprvfi_cli.data.sources import load_manifest
from aprvfi_cli.data.triplets import TripletRules, judge_steps, plan_triplets, spread, training_gaps
from aprvfi_cli.model import APRVFI
from aprvfi_cli.model.flow_scale import DEFAULT_FLOW_SCALE
from aprvfi_cli.video.scene import FrameSignature

META = "meta.json"
STORE_VERSION = 1


@dataclass(frozen=True)
class StoreSettings:
    """How a store is cut from the prepared cache (stored in ``meta.json``).

    Attributes:
        max_side: clip frames are area-downscaled so the longer side is at most this (px).
        train_per_clip: at most this many training triplets per clip, evenly spread.
        dev_fraction: the last share of each clip's frames is held back for the dev set.
        dev_per_clip: at most this many dev triplets per clip, evenly spread.
        synthetic: layered synthetic triplets rendered from the photos.
        synthetic_size: their side (px).
        cell: side of the error cells that crop sampling is weighted by (px).
        seed: seed of the synthetic renderer.
    """

    max_side: int = 512
    train_per_clip: int = 60
    dev_fraction: float = 0.2
    dev_per_clip: int = 24
    synthetic: int = 512
    synthetic_size: int = 256
    cell: int = 32
    seed: int = 0


def downscale(image: np.ndarray, max_side: int) -> np.ndarray:
    """(H, W, 3) uint8, area-downscaled so the longer side is at most ``max_side``."""
    scale = max_side / max(image.shape[:2])
    if scale >= 1:
        return np.ascontiguousarray(image)
    size = (max(1, round(image.shape[0] * scale)), max(1, round(image.shape[1] * scale)))
    tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float()
    small = F.interpolate(tensor, size=size, mode="area")[0].permute(1, 2, 0)
    return small.round().clamp(0, 255).to(torch.uint8).numpy()


def split_clip(triplets: list[tuple[int, int, int]], frames: int, settings: StoreSettings):
    """(train, dev) triplets: dev lies wholly in the last ``dev_fraction`` of the frames, train wholly
    before it, with a gap of one triplet span so no frame is shared."""
    boundary = math.floor(frames * (1 - settings.dev_fraction))
    span = max((c - a for a, _, c in triplets), default=2)
    dev = [t for t in triplets if t[0] >= boundary]
    train = [t for t in triplets if t[2] < boundary - span]
    return spread(train, settings.train_per_clip), spread(dev, settings.dev_per_clip)


def _to_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float() / 255


@torch.no_grad()
def flow_and_error(
    model: APRVFI, frame0: np.ndarray, truth: np.ndarray, frame1: np.ndarray, t: float, *, cell: int
) -> tuple[np.ndarray, np.ndarray]:
    """Whole-frame flow (4, H, W) float16 and flow-only squared error per cell (H // cell, W // cell)."""
    image0, image1 = _to_tensor(frame0), _to_tensor(frame1)
    # the flow inference computes, so the synthesis trains on the flow it will meet
    pair = model.estimate(image0, image1, context=False, flow_scale=DEFAULT_FLOW_SCALE)
    height, width = frame0.shape[:2]
    flow = pair.flow[0, :, :height, :width]
    error = (model.flow_only(pair, t) - _to_tensor(truth)).square().mean(dim=1, keepdim=True)
    cells = F.avg_pool2d(error, cell, ceil_mode=False)[0, 0] if min(height, width) >= cell else error.mean()[None, None]
    return flow.to(torch.float16).numpy(), cells.numpy().astype(np.float32)


def _write_group(
    out: Path, name: str, frames: np.ndarray, triplets: np.ndarray, times: np.ndarray, model: APRVFI, cell: int
) -> dict:
    height, width = frames.shape[1:3]
    np.save(out / f"{name}.frames.npy", frames)
    np.save(out / f"{name}.triplets.npy", triplets.astype(np.int32))
    np.save(out / f"{name}.t.npy", times.astype(np.float32))
    flows = np.lib.format.open_memmap(
        out / f"{name}.flow.npy", mode="w+", dtype=np.float16, shape=(len(triplets), 4, height, width)
    )
    errors = []
    for index, ((a, b, c), t) in enumerate(zip(triplets, times, strict=True)):
        flows[index], error = flow_and_error(model, frames[a], frames[b], frames[c], float(t), cell=cell)
        errors.append(error)
    flows.flush()
    np.save(out / f"{name}.error.npy", np.stack(errors))
    return {"name": name, "height": int(height), "width": int(width), "count": len(triplets)}


def build_store(
    cache: str | Path,
    out: str | Path,
    *,
    model: APRVFI,
    settings: StoreSettings | None = None,
    render_synthetic: Callable[[list[np.ndarray], int, np.random.Generator], tuple] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Cut a store from a prepared cache (``aprvfi data prepare``); returns its meta.

    Args:
        cache: the prepared cache folder.
        out: the store folder (created; existing group files are replaced).
        model: supplies the frozen flow network (its weights decide the stored flow).
        settings: see :class:`StoreSettings`.
        render_synthetic: ``(photos, size, rng) -> (frame0, truth, frame1, t)`` uint8 frames; None
            skips the synthetic group.
        progress: called with each group's name before it is computed.
    """
    settings = settings or StoreSettings()
    cache, out = Path(cache), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = load_manifest(cache)
    model.eval()
    groups = []
    for clip in manifest["clips"]:
        check_not_held_out(cache / clip)
        # every usable triplet of the clip (the manifest keeps an evenly spread subset only)
        originals = list(iter_frames(cache / clip))
        if len(originals) < 3:
            continue
        steps = judge_steps(
            [FrameSignature.of(image) for image in originals],
            fps=clip_rate(cache / clip),
            size=originals[0].shape[:2],
            rules=TripletRules(),
        )
        planned = plan_triplets(steps, gaps=training_gaps(steps))
        frames = [downscale(image, settings.max_side) for image in originals]
        del originals
        train, dev = split_clip(planned, len(frames), settings)
        stem = Path(clip).name.replace(".", "_")
        for split, triplets in (("train", train), ("dev", dev)):
            if not triplets:
                continue
            if progress:
                progress(f"{split}-{stem}")
            used = sorted({i for t in triplets for i in t})
            remap = {i: k for k, i in enumerate(used)}
            group = _write_group(
                out,
                f"{split}-{stem}",
                np.stack([frames[i] for i in used]),
                np.array([[remap[i] for i in t] for t in triplets]),
                np.full(len(triplets), 0.5),
                model,
                settings.cell,
            )
            groups.append({**group, "split": split, "source": clip})
    if render_synthetic is not None and settings.synthetic:
        from aprvfi_cli.video.images import read_image  # PyAV: only building a store needs it

        if progress:
            progress("train-synthetic")
        photos = []
        for source in manifest["sources"]:
            for entry in source["files"]:
                if entry["file"].startswith("photos/"):
                    check_not_held_out(cache / entry["file"], sha256=entry["source_sha256"])
                    photos.append(read_image(cache / entry["file"]))
        rng = np.random.default_rng([settings.seed, 1])
        rendered = [render_synthetic(photos, settings.synthetic_size, rng) for _ in range(settings.synthetic)]
        frames = np.stack([frame for r in rendered for frame in r[:3]])
        triplets = np.arange(len(frames)).reshape(-1, 3)
        group = _write_group(
            out, "train-synthetic", frames, triplets, np.array([r[3] for r in rendered]), model, settings.cell
        )
        groups.append({**group, "split": "train", "source": "synthetic"})
    meta = {"version": STORE_VERSION, "settings": asdict(settings), "groups": groups}
    (out / META).write_text(json.dumps(meta, indent=1))
    return meta


@dataclass(frozen=True)
class StoredTriplet:
    """One stored triplet, as views into the memory maps: frames (H, W, 3) uint8, flow (4, H, W) float16."""

    group: str
    frame0: np.ndarray
    truth: np.ndarray
    frame1: np.ndarray
    flow: np.ndarray
    t: float


class Store:
    """A built store, memory-mapped (cheap to open in every loader worker)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        meta_path = self.root / META
        if not meta_path.is_file():
            raise FileNotFoundError(
                f"{self.root} is not a training store (no {META}); build it with `aprvfi data store`"
            )
        self.meta = json.loads(meta_path.read_text())
        self.settings = StoreSettings(**self.meta["settings"])
        self.groups = {g["name"]: g for g in self.meta["groups"]}
        self._arrays: dict[str, dict[str, np.ndarray]] = {}

    def arrays(self, name: str) -> dict[str, np.ndarray]:
        """The group's arrays (frames, triplets, t, flow, error), memory-mapped on first use."""
        if name not in self._arrays:
            self._arrays[name] = {
                key: np.load(self.root / f"{name}.{key}.npy", mmap_mode="r")
                for key in ("frames", "triplets", "t", "flow", "error")
            }
        return self._arrays[name]

    def names(self, split: str, *, synthetic: bool | None = None) -> list[str]:
        """Group names of a split; ``synthetic`` True/False keeps only / drops the synthetic group."""
        return [
            n
            for n, g in self.groups.items()
            if g["split"] == split and (synthetic is None or (g["source"] == "synthetic") == synthetic)
        ]

    def triplet(self, name: str, index: int) -> StoredTriplet:
        arrays = self.arrays(name)
        a, b, c = (int(i) for i in arrays["triplets"][index])
        return StoredTriplet(
            group=name,
            frame0=arrays["frames"][a],
            truth=arrays["frames"][b],
            frame1=arrays["frames"][c],
            flow=arrays["flow"][index],
            t=float(arrays["t"][index]),
        )

    def iter_split(self, split: str, *, limit_per_group: int | None = None) -> Iterator[StoredTriplet]:
        """Every triplet of a split, group by group (at most ``limit_per_group`` each, evenly spread)."""
        for name in self.names(split):
            for index in spread(list(range(self.groups[name]["count"])), limit_per_group):
                yield self.triplet(name, index)
