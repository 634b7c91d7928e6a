"""Training batches: synthetic layered triplets and real clip triplets, a pure function of (seed, step).

A batch depends only on the data recipe and the step number (every sample draws from its own
``numpy`` generator keyed by (seed, step, index)), so resuming at step n sees exactly the
batches an uninterrupted run would have seen, with any number of loader workers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from aprvfi_cli.data.decode import iter_frames
from aprvfi_cli.data.holdout import check_not_held_out
from aprvfi_cli.data.sources import load_manifest
from aprvfi_cli.data.triplets import spread
from aprvfi_cli.train.augment import AugmentConfig, augment, random_crop
from aprvfi_cli.train.synthetic import SyntheticConfig, synthetic_triplet

# key of the validation streams: never equal to a training key (seed, step, index)
_VALIDATION_KEY = 7_777_777


@dataclass(frozen=True)
class DataConfig:
    """The data recipe (stored in checkpoints).

    Attributes:
        crop: side of the square training crops (px).
        batch_size: triplets per step.
        clip_fraction: share of samples taken from real clips (the rest are synthetic).
        synthetic: layered-triplet settings (its size is replaced by ``crop``).
        augment: flips, rot90, temporal swap, channel order.
        clip_max_side: clip frames are area-downscaled so their longer side is at most this (px).
        max_clip_triplets: at most this many triplets per clip are loaded (None: all in the cache).
        validation_every: every n-th triplet of each clip is kept for validation, never trained on.
        seed: base of every random stream.
    """

    crop: int = 256
    batch_size: int = 8
    clip_fraction: float = 0.3
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    clip_max_side: int = 512
    max_clip_triplets: int | None = None
    validation_every: int = 20
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> DataConfig:
        values = dict(values)
        synthetic = dict(values.pop("synthetic", {}))
        for key in ("layers", "object_size", "softness", "texture_zoom"):
            if key in synthetic:
                synthetic[key] = tuple(synthetic[key])
        return cls(synthetic=SyntheticConfig(**synthetic), augment=AugmentConfig(**values.pop("augment", {})), **values)


@dataclass
class Clip:
    """A training clip's decoded frames (uint8 (3, H, W) by index) and its triplets."""

    name: str
    frames: dict[int, Tensor]
    train: list[tuple[int, int, int]]
    validation: list[tuple[int, int, int]]

    @property
    def size(self) -> tuple[int, int]:
        return tuple(next(iter(self.frames.values())).shape[-2:])  # type: ignore[return-value]


@dataclass
class Material:
    """Everything the batches are cut from: photos (float (3, H, W) in [0, 1]) and clips."""

    photos: list[Tensor]
    clips: list[Clip]


def _downscale(image: np.ndarray, max_side: int) -> Tensor:
    tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)
    scale = max_side / max(tensor.shape[-2:])
    if scale >= 1:
        return tensor.contiguous()
    size = (max(1, round(tensor.shape[1] * scale)), max(1, round(tensor.shape[2] * scale)))
    small = F.interpolate(tensor[None].float(), size=size, mode="area")[0]
    return small.round().clamp(0, 255).to(torch.uint8)


def load_material(cache: str | Path, config: DataConfig, *, clips: bool = True) -> Material:
    """Read the prepared cache (see :mod:`.sources`); refuses held-out evaluation data."""
    from aprvfi_cli.video.images import read_image  # PyAV: the GPU leg imports this module without it

    cache = Path(cache)
    manifest = load_manifest(cache)
    photos = []
    for source in manifest["sources"]:
        for entry in source["files"]:
            if entry["file"].startswith("photos/"):
                check_not_held_out(cache / entry["file"], sha256=entry["source_sha256"])
                photos.append(torch.from_numpy(read_image(cache / entry["file"])).permute(2, 0, 1).float() / 255)
    loaded = []
    for name, info in manifest["clips"].items() if clips else []:
        check_not_held_out(cache / name)
        triplets = [tuple(t) for t in info["triplets"]]
        triplets = spread(triplets, config.max_clip_triplets)
        validation = triplets[config.validation_every - 1 :: config.validation_every]
        train = [t for t in triplets if t not in set(validation)]
        needed = {i for t in triplets for i in t}
        frames = {
            i: _downscale(image, config.clip_max_side)
            for i, image in enumerate(iter_frames(cache / name))
            if i in needed
        }
        loaded.append(
            Clip(
                name=name,
                frames=frames,
                train=[t for t in train if set(t) <= frames.keys()],
                validation=[t for t in validation if set(t) <= frames.keys()],
            )
        )
    if not photos:
        raise FileNotFoundError(f"{cache} holds no photos; run `aprvfi data prepare --dir {cache}`")
    return Material(photos=photos, clips=loaded)


@dataclass(frozen=True)
class Sample:
    """One triplet: inputs and truth (3, H, W) float in [0, 1], and the truth's time t."""

    frame0: Tensor
    truth: Tensor
    frame1: Tensor
    t: float
    source: str


def _clip_frames(clip: Clip, triplet: tuple[int, int, int]) -> tuple[Tensor, Tensor, Tensor]:
    return tuple(clip.frames[i].float() / 255 for i in triplet)  # type: ignore[return-value]


def draw_sample(material: Material, config: DataConfig, rng: np.random.Generator) -> Sample:
    """One augmented training triplet of ``crop`` x ``crop`` px."""
    crop = config.crop
    usable = [c for c in material.clips if c.train and min(c.size) >= crop]
    if usable and rng.random() < config.clip_fraction:
        weights = np.array([len(c.train) for c in usable], dtype=float)
        clip = usable[int(rng.choice(len(usable), p=weights / weights.sum()))]
        triplet = clip.train[int(rng.integers(len(clip.train)))]
        frames = random_crop(_clip_frames(clip, triplet), (crop, crop), rng)
        t, source = 0.5, clip.name
    else:
        synthetic = synthetic_triplet(material.photos, replace(config.synthetic, height=crop, width=crop), rng)
        frames, t, source = (synthetic.frame0, synthetic.frame_t, synthetic.frame1), synthetic.t, "synthetic"
    (frame0, truth, frame1), t = augment(frames, t, rng, config.augment)
    return Sample(frame0=frame0, truth=truth, frame1=frame1, t=t, source=source)


def collate(samples: list[Sample]) -> dict[str, Tensor]:
    """Stack samples: frame0, truth, frame1 (B, 3, H, W) and t (B,)."""
    return {
        "frame0": torch.stack([s.frame0 for s in samples]),
        "truth": torch.stack([s.truth for s in samples]),
        "frame1": torch.stack([s.frame1 for s in samples]),
        "t": torch.tensor([s.t for s in samples], dtype=torch.float32),
    }


class StepBatches(torch.utils.data.Dataset):
    """``dataset[step]`` is the whole batch of that step (deterministic; use with ``batch_size=None``)."""

    def __init__(self, material: Material, config: DataConfig, *, stream: int = 0) -> None:
        self.material, self.config, self.stream = material, config, stream

    def __len__(self) -> int:
        return 1 << 40

    def __getitem__(self, step: int) -> dict[str, Tensor]:
        seed = self.config.seed
        return collate(
            [
                draw_sample(self.material, self.config, np.random.default_rng([seed, self.stream, step, i]))
                for i in range(self.config.batch_size)
            ]
        )


def validation_samples(
    material: Material, config: DataConfig, *, synthetic: int = 16, clips: int = 16, size: int = 256
) -> list[Sample]:
    """A fixed validation set: ``synthetic`` layered triplets at t = 0.5 (their own random stream)
    and up to ``clips`` held-back triplets of the training clips (centre crops of ``size`` px).
    Never the evaluation sets."""
    samples = []
    recipe = replace(config.synthetic, height=size, width=size, uniform_t=0.0)
    for index in range(synthetic):
        rng = np.random.default_rng([config.seed, _VALIDATION_KEY, index])
        triplet = synthetic_triplet(material.photos, recipe, rng)
        samples.append(Sample(triplet.frame0, triplet.frame_t, triplet.frame1, 0.5, "synthetic"))
    pool = [(c, t) for c in material.clips for t in c.validation]
    if pool and clips:
        for index in np.linspace(0, len(pool) - 1, min(clips, len(pool))).round().astype(int):
            clip, triplet = pool[index]
            frames = _clip_frames(clip, triplet)
            height, width = frames[0].shape[-2:]
            side_h, side_w = min(size, height), min(size, width)
            top, left = (height - side_h) // 2, (width - side_w) // 2
            f0, ft, f1 = (f[..., top : top + side_h, left : left + side_w] for f in frames)
            samples.append(Sample(f0, ft, f1, 0.5, clip.name))
    return samples
