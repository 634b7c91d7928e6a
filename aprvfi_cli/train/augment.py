"""Augmentation of a triplet: random crop, flips, rot90, temporal swap, RGB channel order.

Every transform is applied identically to the three frames (it must keep the triplet a valid
interpolation problem); the temporal swap exchanges the inputs and turns t into 1 - t.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TypeVar

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


Sampling = TypeVar("Sampling", bound="AugmentedSampling")


class AugmentedSampling:
    """A sampling config's dict form (stored in checkpoints), for dataclasses whose ``augment``
    field is an :class:`AugmentConfig`."""

    def to_dict(self) -> dict:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[Sampling], values: dict) -> Sampling:
        values = dict(values)
        return cls(augment=AugmentConfig(**values.pop("augment", {})), **values)  # type: ignore[call-arg]


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


def augment_batch_with_flow(
    frames: Frames, flow: Tensor, t: Tensor, generator: torch.Generator, config: AugmentConfig
) -> tuple[Frames, Tensor, Tensor]:
    """:func:`augment_with_flow` for a whole batch on its own device, each sample drawing its own transforms.

    Args:
        frames: frame0, truth, frame1, each (B, 3, S, S) (rot90 needs square crops).
        flow: (B, 4, S, S) F01 (x, y), F10 (x, y) in pixels.
        t: (B,) time of the truth.
        generator: a generator on the batch's device (a batch is a pure function of its seed).
    """
    batch, device = flow.shape[0], flow.device

    def draw(probability: float) -> Tensor:
        return torch.rand(batch, generator=generator, device=device) < probability

    def where(mask: Tensor, changed: Tensor, kept: Tensor) -> Tensor:
        return torch.where(mask.view(-1, *(1,) * (kept.dim() - 1)), changed, kept)

    sign = flow.new_tensor
    flip = draw(config.flip_horizontal)
    frames = tuple(where(flip, f.flip(-1), f) for f in frames)  # type: ignore[assignment]
    flow = where(flip, flow.flip(-1) * sign([-1, 1, -1, 1]).view(1, 4, 1, 1), flow)
    flip = draw(config.flip_vertical)
    frames = tuple(where(flip, f.flip(-2), f) for f in frames)  # type: ignore[assignment]
    flow = where(flip, flow.flip(-2) * sign([1, -1, 1, -1]).view(1, 4, 1, 1), flow)
    if config.rot90 and flow.shape[-1] == flow.shape[-2]:
        turns = torch.randint(0, 4, (batch,), generator=generator, device=device)
        for turn in range(1, 4):
            more = turns >= turn  # one quarter turn more for these samples
            frames = tuple(where(more, f.rot90(1, dims=(-2, -1)), f) for f in frames)  # type: ignore[assignment]
            turned = flow.rot90(1, dims=(-2, -1))
            turned = torch.stack([turned[:, 1], -turned[:, 0], turned[:, 3], -turned[:, 2]], dim=1)
            flow = where(more, turned, flow)
    swap = draw(config.temporal_swap)
    frames = (where(swap, frames[2], frames[0]), frames[1], where(swap, frames[0], frames[2]))
    flow = where(swap, flow[:, [2, 3, 0, 1]], flow)
    t = torch.where(swap, 1 - t, t)
    shuffle = draw(config.channel_shuffle)
    order = torch.rand(batch, 3, generator=generator, device=device).argsort(dim=1)
    order = torch.where(shuffle[:, None], order, torch.arange(3, device=device))
    index = order.view(batch, 3, 1, 1).expand_as(frames[0])
    frames = tuple(f.gather(1, index) for f in frames)  # type: ignore[assignment]
    return frames, flow.contiguous(), t
