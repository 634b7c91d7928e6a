"""Building the travel pack (``aprvfi data pack``; layout and reading in :mod:`.pack`).

Each real clip is decoded once to judge its steps (cuts, duplicates: :func:`judge_steps`, plus the
cuts its source names), its usable triplets are split into training triplets and the held-back dev
tail exactly as the store splits them (:func:`split_clip`), and the frames those triplets use are
area-downscaled and encoded with libx264. Everything is written to a temporary folder beside the
output, renamed onto it only at the end.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from fractions import Fraction
from pathlib import Path

import numpy as np

from aprvfi_cli.data.decode import iter_frames
from aprvfi_cli.data.holdout import sha256_file
from aprvfi_cli.data.pack import DEV_SHARD, PACK_FORMAT, PACK_MANIFEST, Pack, PackError
from aprvfi_cli.data.pack_sources import SourceClip, cache_clips, folder_clips, write_notices
from aprvfi_cli.data.store import downscale, split_clip
from aprvfi_cli.data.triplets import ClipSteps, TripletRules, plan_triplets, scan_clip, training_gaps
from aprvfi_cli.errors import UsageError
from aprvfi_cli.video.writer import EncodeSettings, VideoWriter, check_preset

MIB = 1 << 20
_RATE = Fraction(25)  # nominal: a pack's frames are not evenly spaced in time, only in order


@dataclass(frozen=True)
class PackSettings:
    """How a pack is cut and encoded (stored in its manifest).

    Attributes:
        max_side: frames are area-downscaled so the longer side is at most this (px), then cropped
            to even sizes (4:2:0).
        crf: libx264's constant rate factor (lower: larger files, closer to the frames).
        preset: libx264's speed preset (slower: smaller files at the same quality).
        train_per_clip: at most this many training triplets per clip, evenly spread (None: all usable).
        dev_fraction: the last share of each clip's frames is held back for the dev set.
        dev_per_clip: at most this many dev triplets per clip, evenly spread (None: all).
        shard_mib: the most one leg carries (MiB): one shard, or the dev shard and one training shard.
    """

    max_side: int = 512
    crf: int = 20
    preset: str = "slow"
    train_per_clip: int | None = None
    dev_fraction: float = 0.2
    dev_per_clip: int | None = 24
    shard_mib: float = 32.0


def check_settings(settings: PackSettings) -> None:
    """Refuse settings no pack can be built with (before any work)."""
    check_preset("libx264", settings.preset)
    if not 0 <= settings.crf <= 51:
        raise UsageError(f"libx264's CRF must be from 0 to 51, got {settings.crf}", subject="crf")
    if settings.max_side < 16:
        raise UsageError(f"frames must keep a longer side of at least 16 px, got {settings.max_side}")
    if not 0 < settings.dev_fraction < 1:
        raise UsageError(f"the dev share of each clip must lie between 0 and 1, got {settings.dev_fraction}")
    for what, count in (("training", settings.train_per_clip), ("dev", settings.dev_per_clip)):
        if count is not None and count < 1:
            raise UsageError(f"{what} triplets per clip must be at least 1, got {count}")
    if settings.shard_mib <= 0:
        raise UsageError(f"the shard budget must be positive, got {settings.shard_mib} MiB")


@dataclass(frozen=True)
class ClipPlan:
    """A clip's kept triplets, in its original frame numbers, and its step counts."""

    clip: SourceClip
    train: list[tuple[int, int, int]]
    dev: list[tuple[int, int, int]]
    source_frames: int
    cut_steps: int
    duplicate_steps: int


def with_known_cuts(steps: ClipSteps, ranges: Sequence[tuple[int, int]]) -> ClipSteps:
    """``steps`` with every step of the inclusive ``ranges`` marked as a cut."""
    cuts = steps.cuts.copy()
    for first, last in ranges:
        cuts[first : last + 1] = True
    return replace(steps, cuts=cuts)


def plan_clip(clip: SourceClip, settings: PackSettings) -> ClipPlan:
    """Judge a clip's steps and choose its training and dev triplets."""
    steps = with_known_cuts(scan_clip(clip.path, rules=TripletRules()), clip.known_cuts)
    planned = plan_triplets(steps, gaps=training_gaps(steps))
    train, dev = split_clip(planned, steps.frames, settings)
    return ClipPlan(clip, train, dev, steps.frames, int(steps.cuts.sum()), int(steps.duplicates.sum()))


def even_downscale(image: np.ndarray, max_side: int) -> np.ndarray:
    """:func:`downscale`, then the last row / column dropped where the size is odd (4:2:0 needs even sizes)."""
    small = downscale(image, max_side)
    height, width = small.shape[:2]
    return np.ascontiguousarray(small[: height - height % 2, : width - width % 2])


def gather_frames(path: Path, indices: Sequence[int], max_side: int) -> np.ndarray:
    """The frames ``indices`` (sorted) of a clip, downscaled, as (N, H, W, 3) uint8."""
    wanted, kept = set(indices), []
    for index, image in enumerate(iter_frames(path)):
        if index in wanted:
            kept.append(even_downscale(image, max_side))
            if len(kept) == len(wanted):
                break
    if len(kept) != len(wanted):
        raise PackError(f"{path} ended before frame {max(indices)} (it decoded differently on the second pass)")
    return np.stack(kept)


def encode(frames: np.ndarray, target: Path, settings: PackSettings) -> float:
    """Write (N, H, W, 3) uint8 frames to ``target`` (H.264, yuv420p); returns the PSNR (dB, peak 255) of
    all the file's decoded frames together against ``frames``."""
    height, width = frames.shape[1:3]
    encoding = EncodeSettings(codec="h264", crf=settings.crf, preset=settings.preset, pix_fmt="yuv420p")
    with VideoWriter(
        target, width=width, height=height, rate=_RATE, time_base=1 / _RATE, settings=encoding, source_pix_fmt="rgb24"
    ) as writer:
        for index, frame in enumerate(frames):
            writer.write(frame, Fraction(index) / _RATE)
    squared = [
        np.mean((decoded.astype(np.float64) - original) ** 2)
        for decoded, original in zip(iter_frames(target), frames, strict=True)
    ]
    return float(10 * np.log10(255.0**2 / max(float(np.mean(squared)), 1e-10)))


def write_part(plan: ClipPlan, parts: tuple[str, ...], folder: Path, settings: PackSettings) -> dict:
    """Encode the frames that the ``parts`` ("train", "dev") of ``plan`` use into ``folder/<name>.mp4``;
    returns its manifest entry."""
    triplets = {part: getattr(plan, part) for part in ("train", "dev")}
    mine = sorted({i for part in parts for t in triplets[part] for i in t})
    frames = gather_frames(plan.clip.path, mine, settings.max_side)
    target = folder / f"{plan.clip.name}.mp4"
    score = encode(frames, target, settings)
    remap = {frame: k for k, frame in enumerate(mine)}
    entry = {
        "name": plan.clip.name,
        "file": f"{folder.name}/{target.name}",
        "sha256": sha256_file(target),
        "shard": folder.name,
        "bytes": target.stat().st_size,
        "width": int(frames.shape[2]),
        "height": int(frames.shape[1]),
        "frames": len(mine),
        "source": plan.clip.source,
        "source_sha256": plan.clip.sha256,
        "source_frames": plan.source_frames,
        "licence": plan.clip.licence,
        "synthetic": False,
        "cut_steps": plan.cut_steps,
        "duplicate_steps": plan.duplicate_steps,
        "psnr": round(score, 3),
    }
    for part in ("train", "dev"):
        chosen = triplets[part] if part in parts else []
        entry[part] = [[remap[i] for i in t] for t in chosen]
        entry[f"{part}_t"] = [0.5] * len(chosen)
    return entry


def _size(count: int) -> str:
    return f"{count / MIB:.2f} MiB" if count >= MIB // 100 else f"{count} bytes"


def shard_training(entries: list[dict], budget: int) -> list[list[dict]]:
    """Split training entries, in order, into groups of at most ``budget`` bytes each."""
    groups: list[list[dict]] = [[]]
    for entry in entries:
        if entry["bytes"] > budget:
            raise UsageError(
                f"{entry['name']}'s training frames alone take {_size(entry['bytes'])}, more than one shard "
                f"holds beside the dev set ({_size(budget)}): raise the shard budget or lower the training "
                "triplets per clip"
            )
        if sum(e["bytes"] for e in groups[-1]) + entry["bytes"] > budget:
            groups.append([])
        groups[-1].append(entry)
    return groups


def _move(entry: dict, work: Path, shard: str) -> dict:
    """Move an entry's file into ``work/shard`` and point the entry at it."""
    (work / shard).mkdir(exist_ok=True)
    name = Path(entry["file"]).name
    os.replace(work / entry["file"], work / shard / name)
    return {**entry, "file": f"{shard}/{name}", "shard": shard}


def _layout(work: Path, whole: list[dict], split: Callable[[], tuple[list[dict], list[dict]]], budget: int) -> list:
    """Shard entries (see :mod:`.pack`): all in ``shard-00`` when they fit, else a dev shard and training shards."""
    if sum(e["bytes"] for e in whole) <= budget:
        return [_move(e, work, "shard-00") for e in whole]
    dev, train = split()
    dev_bytes = sum(e["bytes"] for e in dev)
    if dev_bytes >= budget:
        raise UsageError(
            f"the dev set alone takes {_size(dev_bytes)}, not less than the shard budget ({_size(budget)}): "
            "raise the budget or lower the dev triplets per clip"
        )
    placed = [_move(e, work, DEV_SHARD) for e in dev]
    for number, group in enumerate(shard_training(train, budget - dev_bytes)):
        placed += [_move(e, work, f"shard-{number:02d}") for e in group]
    return placed


def _manifest_text(manifest: dict) -> str:
    """JSON with one line per top-level key and per clip (readable diffs, a small file)."""
    head = ",\n".join(f" {json.dumps(k)}: {json.dumps(v)}" for k, v in manifest.items() if k != "clips")
    clips = ",\n".join(f"  {json.dumps(clip)}" for clip in manifest["clips"])
    return f'{{\n{head},\n "clips": [\n{clips}\n ]\n}}\n'


def build_pack(
    cache: str | Path | None,
    clip_dirs: Sequence[str | Path],
    out: str | Path,
    *,
    settings: PackSettings,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Build a pack from a prepared cache's clips and clip folders; returns its manifest.

    Args:
        cache: a prepared cache (``aprvfi data prepare``), or None to use the clip folders only.
        clip_dirs: folders of further clips (see :mod:`.pack_sources`).
        out: the pack folder; an existing pack there is replaced, only once the new one is complete.
        settings: see :class:`PackSettings`.
        progress: called with a line per clip.

    Raises:
        FileNotFoundError: no cache manifest, no clip folder, or no video in it.
        HeldOutError: a clip is held-out evaluation data.
        UsageError: a setting out of range; the budget cannot hold the dev set, or one clip's training part.
    """
    check_settings(settings)
    out = Path(out)
    if out.exists() and not (out / PACK_MANIFEST).is_file() and any(out.iterdir()):
        raise UsageError(f"{out} exists and is not a pack: refusing to replace it")
    clips = (cache_clips(cache) if cache is not None else []) + [c for d in clip_dirs for c in folder_clips(d)]
    names = [clip.name for clip in clips]
    if len(set(names)) != len(names):
        raise UsageError(f"two clips share a name: {sorted({n for n in names if names.count(n) > 1})}")
    out.parent.mkdir(parents=True, exist_ok=True)
    work = out.parent / f".{out.name}.building-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    try:
        whole, plans = [], []
        (work / "whole").mkdir(parents=True)
        for clip in clips:
            plan = plan_clip(clip, settings)
            if not plan.train and not plan.dev:
                if progress:
                    progress(f"{clip.name}: no usable triplet, left out")
                continue
            entry = write_part(plan, ("train", "dev"), work / "whole", settings)
            whole.append(entry)
            plans.append(plan)
            if progress:
                progress(
                    f"{clip.name}: {len(plan.train)} train, {len(plan.dev)} dev triplets, {entry['frames']} frames, "
                    f"{entry['bytes'] / MIB:.2f} MiB, {entry['psnr']:.2f} dB"
                )

        def split() -> tuple[list[dict], list[dict]]:
            # past one shard's budget, each clip's dev tail and training part are encoded apart
            for folder in ("dev-parts", "train-parts"):
                (work / folder).mkdir()
            dev = [write_part(p, ("dev",), work / "dev-parts", settings) for p in plans if p.dev]
            train = [write_part(p, ("train",), work / "train-parts", settings) for p in plans if p.train]
            return dev, train

        placed = _layout(work, whole, split, math.floor(settings.shard_mib * MIB))
        for folder in ("whole", "dev-parts", "train-parts"):
            shutil.rmtree(work / folder, ignore_errors=True)
        shards = sorted({e["shard"] for e in placed}, key=lambda s: (s != DEV_SHARD, s))
        manifest = {
            "format": PACK_FORMAT,
            "settings": asdict(settings),
            "shards": [
                {
                    "name": shard,
                    "bytes": sum(e["bytes"] for e in placed if e["shard"] == shard),
                    "clips": sum(e["shard"] == shard for e in placed),
                }
                for shard in shards
            ],
            "clips": placed,
        }
        (work / PACK_MANIFEST).write_text(_manifest_text(manifest))
        write_notices(work, clips, placed)
        Pack.open(work).verify()
        replace_folder(work, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return manifest


def replace_folder(new: Path, target: Path) -> None:
    """Rename ``new`` onto ``target``; an existing ``target`` is moved aside first and removed after."""
    old = target.parent / f".{target.name}.old-{os.getpid()}"
    if target.exists():
        os.replace(target, old)
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)
