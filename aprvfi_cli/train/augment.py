"""Augmentation of a triplet: random crop, flips, rot90, temporal swap, RGB channel order.

Every transform is applied identically to the three frames (it must keep the triplet a valid
interpolation problem); the temporal swap exchanges the inputs and turns t into 1 - t.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities of each transform (the paper: flips, rotation, temporal reversal; EBME: RGB order)."""

    flip_horizontal: float = 0.5
    flip_vertical: float = 0.5
    rot90: bool = True
    temporal_swap: float = 0.5
    channel_shuffle: float = 0.5


Frames = tuple[Tensor, Tensor, Tensor]  # (frame0, truth, frame1), each (3, H, W)


def random_crop(frames: Frames, size: tuple[int, int], rng: np.random.Generator) -> Frames:
    """The same random (H, W) window of every frame; frames must be at least that large."""
    height, width = frames[0].shape[-2:]
    if height < size[0] or width < size[1]:
        raise ValueError(f"cannot crop {size} from a {height}x{width} frame")
    top = int(rng.integers(0, height - size[0] + 1))
    left = int(rng.integers(0, width - size[1] + 1))
    return tuple(f[..., top : top + size[0], left : left + size[1]] for f in frames)  # type: ignore[return-value]


def augment(frames: Frames, t: float, rng: np.random.Generator, config: AugmentConfig) -> tuple[Frames, float]:
    """Random flips, rot90 (square crops keep their size), temporal swap and channel order."""
    if rng.random() < config.flip_horizontal:
        frames = tuple(f.flip(-1) for f in frames)  # type: ignore[assignment]
    if rng.random() < config.flip_vertical:
        frames = tuple(f.flip(-2) for f in frames)  # type: ignore[assignment]
    if config.rot90 and frames[0].shape[-1] == frames[0].shape[-2]:
        turns = int(rng.integers(0, 4))
        if turns:
            frames = tuple(f.rot90(turns, dims=(-2, -1)) for f in frames)  # type: ignore[assignment]
    if rng.random() < config.temporal_swap:
        frames, t = (frames[2], frames[1], frames[0]), 1.0 - t
    if rng.random() < config.channel_shuffle:
        order = rng.permutation(3).tolist()
        frames = tuple(f[order] for f in frames)  # type: ignore[assignment]
    return tuple(f.contiguous() for f in frames), t  # type: ignore[return-value]


def augment_with_flow(
    frames: Frames, flow: Tensor, t: float, rng: np.random.Generator, config: AugmentConfig
) -> tuple[Frames, Tensor, float]:
    """:func:`augment` for a triplet that carries its flow (4, H, W): F01 (x, y), F10 (x, y) in pixels.

    Every geometric transform moves the flow field with the frames and turns its vectors the same
    way; the temporal swap exchanges F01 and F10.
    """
    if rng.random() < config.flip_horizontal:
        frames = tuple(f.flip(-1) for f in frames)  # type: ignore[assignment]
        flow = flow.flip(-1) * flow.new_tensor([-1, 1, -1, 1]).view(4, 1, 1)
    if rng.random() < config.flip_vertical:
        frames = tuple(f.flip(-2) for f in frames)  # type: ignore[assignment]
        flow = flow.flip(-2) * flow.new_tensor([1, -1, 1, -1]).view(4, 1, 1)
    if config.rot90 and frames[0].shape[-1] == frames[0].shape[-2]:
        for _ in range(int(rng.integers(0, 4))):
            # rot90 over (H, W) sends pixel (y, x) to (W - 1 - x, y): a vector (dx, dy) becomes (dy, -dx)
            frames = tuple(f.rot90(1, dims=(-2, -1)) for f in frames)  # type: ignore[assignment]
            flow = flow.rot90(1, dims=(-2, -1))
            flow = torch.stack([flow[1], -flow[0], flow[3], -flow[2]])
    if rng.random() < config.temporal_swap:
        frames, t = (frames[2], frames[1], frames[0]), 1.0 - t
        flow = flow[[2, 3, 0, 1]]
    if rng.random() < config.channel_shuffle:
        order = rng.permutation(3).tolist()
        frames = tuple(f[order] for f in frames)  # type: ignore[assignment]
    return tuple(f.contiguous() for f in frames), flow.contiguous(), t  # type: ignore[return-value]
