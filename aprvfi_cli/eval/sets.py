"""Evaluation sets: find the triplets of a path, whatever its layout.

Layouts:
- Middlebury: ``other-data/<Seq>/frame10.png, frame11.png`` + ``other-gt-interp/<Seq>/frame10i11.png``.
- Vimeo90K: ``<seq>/im1.png, im2.png, im3.png`` at any depth (im2 is the truth).
- A folder of consecutive frames (e.g. the Sintel frames): (f[k], f[k+2] -> f[k+1]) for every k.
- A training store (``aprvfi data store``): its held-back dev split, whole frames, real footage.
- A training pack (``aprvfi data pack``): likewise its dev split (the store's split rule, more clips).
- A video file: leave-one-out triplets (f[2k], f[2k+2] -> f[2k+1]), skipping shot cuts and
  near-duplicate frames (see :mod:`aprvfi_cli.data.triplets`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aprvfi_cli.data.decode import iter_frames
from aprvfi_cli.data.pack import Pack, is_pack
from aprvfi_cli.data.store import META as STORE_META
from aprvfi_cli.data.store import Store
from aprvfi_cli.data.triplets import plan_triplets, scan_clip, spread
from aprvfi_cli.eval.middlebury import Triplet, middlebury_triplets
from aprvfi_cli.video.images import read_image

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"}


@dataclass(frozen=True)
class EvalSet:
    """A located set: its layout, how many triplets, and a lazy iterator over them."""

    path: Path
    layout: str
    count: int
    skipped: int  # triplets dropped (cuts, duplicates) or left out by ``limit``
    triplets: Iterator[Triplet]


def vimeo_folders(root: Path) -> list[Path]:
    return sorted(
        p.parent for p in root.rglob("im1.png") if (p.parent / "im2.png").is_file() and (p.parent / "im3.png").is_file()
    )


def _vimeo(root: Path, limit: int | None) -> EvalSet:
    folders = vimeo_folders(root)
    chosen = spread(folders, limit)

    def generate() -> Iterator[Triplet]:
        for folder in chosen:
            yield Triplet(
                name=folder.relative_to(root).as_posix(),
                frame0=read_image(folder / "im1.png"),
                truth=read_image(folder / "im2.png"),
                frame1=read_image(folder / "im3.png"),
            )

    return EvalSet(root, "vimeo90k", len(chosen), len(folders) - len(chosen), generate())


def _middlebury(root: Path, limit: int | None) -> EvalSet:
    triplets = middlebury_triplets(root)
    chosen = spread(triplets, limit)
    return EvalSet(root, "middlebury", len(chosen), len(triplets) - len(chosen), iter(chosen))


def _frame_folder(root: Path, limit: int | None) -> EvalSet:
    frames = sorted(p for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    starts = spread(list(range(len(frames) - 2)), limit)

    def generate() -> Iterator[Triplet]:
        for k in starts:
            yield Triplet(
                name=frames[k + 1].name,
                frame0=read_image(frames[k]),
                truth=read_image(frames[k + 1]),
                frame1=read_image(frames[k + 2]),
            )

    return EvalSet(root, "frames", len(starts), max(len(frames) - 2, 0) - len(starts), generate())


def _video(path: Path, limit: int | None, tail: float | None = None) -> EvalSet:
    steps = scan_clip(path)
    planned = plan_triplets(steps, gaps=(1,), stride=2)
    first = 0 if tail is None else math.floor(steps.frames * (1 - tail))
    possible = max((steps.frames - first - 1) // 2, 0)
    planned = [triplet for triplet in planned if triplet[0] >= first]
    chosen = spread(planned, limit)

    def generate() -> Iterator[Triplet]:
        wanted = {i for t in chosen for i in t}
        kept: dict[int, np.ndarray] = {}
        pending = list(chosen)
        for index, image in enumerate(iter_frames(path)):
            if index in wanted:
                kept[index] = image
            while pending and pending[0][2] <= index:
                a, b, c = pending.pop(0)
                yield Triplet(name=f"{path.name}#{b}", frame0=kept[a], truth=kept[b], frame1=kept[c])
                # frames no later triplet needs are dropped: memory stays bounded
                for stale in [i for i in kept if not pending or i < pending[0][0]]:
                    del kept[stale]
            if not pending:
                return

    return EvalSet(path, "video", len(chosen), possible - len(chosen), generate())


def _store_dev(root: Path, limit: int | None) -> EvalSet:
    store = Store(root)
    names = store.names("dev")
    total = sum(store.groups[n]["count"] for n in names)
    chosen = spread([(n, i) for n in names for i in range(store.groups[n]["count"])], limit)

    def generate() -> Iterator[Triplet]:
        for name, index in chosen:
            stored = store.triplet(name, index)
            yield Triplet(
                name=f"{name.removeprefix('dev-')}#{index}",
                frame0=np.array(stored.frame0),
                truth=np.array(stored.truth),
                frame1=np.array(stored.frame1),
            )

    return EvalSet(root, "store dev set", len(chosen), total - len(chosen), generate())


def _pack_dev(root: Path, limit: int | None) -> EvalSet:
    pack = Pack.open(root)
    clips = [clip for clip in pack.clips if len(clip.dev)]
    pack.verify(clips)
    total = sum(len(clip.dev) for clip in clips)
    chosen = spread([(clip, index) for clip in clips for index in range(len(clip.dev))], limit)

    def generate() -> Iterator[Triplet]:
        for clip in clips:
            indices = [index for chosen_clip, index in chosen if chosen_clip is clip]
            if not indices:
                continue
            needed = sorted({int(i) for index in indices for i in clip.dev[index]})
            frames = dict(zip(needed, pack.decode(clip, needed), strict=True))  # only the dev frames are kept
            for index in indices:
                a, b, c = (int(i) for i in clip.dev[index])
                yield Triplet(name=f"{clip.name}#{index}", frame0=frames[a], truth=frames[b], frame1=frames[c])

    return EvalSet(root, "pack dev set", len(chosen), total - len(chosen), generate())


def open_eval_set(path: str | Path, *, limit: int | None = None, tail: float | None = None) -> EvalSet:
    """Locate the triplets under ``path`` (see the module doc); ``limit`` spreads a subset evenly.

    ``tail`` (videos only): only triplets in the clip's last ``tail`` share of frames, the part a
    training store holds back as its dev set.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file or folder: {path}")
    if path.is_file():
        return _video(path, limit, tail)
    if (path / STORE_META).is_file():
        return _store_dev(path, limit)
    if is_pack(path):
        return _pack_dev(path, limit)
    if (path / "other-gt-interp").is_dir() and (path / "other-data").is_dir():
        return _middlebury(path, limit)
    if vimeo_folders(path):
        return _vimeo(path, limit)
    if sum(1 for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) >= 3:
        return _frame_folder(path, limit)
    raise FileNotFoundError(
        f"{path}: no triplets found (expected a video, Middlebury other-data/other-gt-interp, "
        "Vimeo90K-style <seq>/im1.png,im2.png,im3.png folders, or a folder of consecutive frames)"
    )
