"""Training batches cut from the prepared store: crops of frames and whole-frame flow, error-weighted.

Crops are drawn where synthesis can help: every store cell carries the flow-only squared error
against the truth, and a crop is centred near a cell drawn in proportion to that error, mixed with
a uniform share so easy content is not forgotten. A batch is a pure function of (seed, stream,
step), as with :class:`aprvfi_cli.train.dataset.StepBatches`, so resume is exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from aprvfi_cli.data.store import Store
from aprvfi_cli.train.augment import AugmentConfig, AugmentedSampling, augment_with_flow


@dataclass(frozen=True)
class StoreSampling(AugmentedSampling):
    """How crops are drawn from a store (stored in checkpoints).

    Attributes:
        store: the store folder.
        synthetic_fraction: share of crops from the synthetic group (the rest: real clip triplets).
        uniform_share: share of the cell weights spread uniformly (1: plain uniform sampling).
        augment: flips, rot90, temporal swap, channel order.
    """

    store: str
    synthetic_fraction: float = 0.3
    uniform_share: float = 0.3
    augment: AugmentConfig = field(default_factory=AugmentConfig)


class CellPool:
    """Every (group, triplet, cell) of some groups, with sampling weights.

    Only groups whose frames hold a ``crop`` x ``crop`` window take part.
    """

    def __init__(self, store: Store, names: list[str], *, crop: int, uniform_share: float) -> None:
        self.store, self.crop = store, crop
        self.names = [n for n in names if min(store.groups[n]["height"], store.groups[n]["width"]) >= crop]
        weights, self.shapes = [], []
        for name in self.names:
            error = np.asarray(store.arrays(name)["error"], dtype=np.float64)
            self.shapes.append(error.shape)
            weights.append(error.reshape(-1))
        flat = np.concatenate(weights) if weights else np.zeros(0)
        self.offsets = np.cumsum([0] + [w.size for w in weights])
        if flat.size:
            error_part = flat / flat.sum() if flat.sum() > 0 else np.full(flat.size, 1 / flat.size)
            flat = (1 - uniform_share) * error_part + uniform_share / flat.size
        self.cumulative = np.cumsum(flat)

    def __bool__(self) -> bool:
        return bool(self.names)

    def draw(self, rng: np.random.Generator) -> tuple[str, int, int, int]:
        """(group, triplet index, top, left) of a crop holding a cell drawn by weight."""
        flat = int(np.searchsorted(self.cumulative, rng.random() * self.cumulative[-1], side="right"))
        flat = min(flat, int(self.cumulative.size) - 1)
        group = int(np.searchsorted(self.offsets, flat, side="right")) - 1
        count, rows, cols = self.shapes[group]
        index, row, col = np.unravel_index(flat - self.offsets[group], (count, rows, cols))
        name = self.names[group]
        height, width = self.store.groups[name]["height"], self.store.groups[name]["width"]
        cell = self.store.settings.cell
        centre_y, centre_x = row * cell + cell // 2, col * cell + cell // 2
        top = int(np.clip(centre_y - rng.integers(0, self.crop), 0, height - self.crop))
        left = int(np.clip(centre_x - rng.integers(0, self.crop), 0, width - self.crop))
        return name, int(index), top, left


def _frame(array: np.ndarray, top: int, left: int, size: int) -> Tensor:
    window = np.ascontiguousarray(array[top : top + size, left : left + size])
    return torch.from_numpy(window).permute(2, 0, 1).float() / 255


class StoreBatches(torch.utils.data.Dataset):
    """``dataset[step]`` is that step's whole batch: frame0, truth, frame1 (B, 3, S, S), flow (B, 4, S, S),
    t (B,). Deterministic in (seed, stream, step); use with ``batch_size=None``."""

    def __init__(self, sampling: StoreSampling, *, crop: int, batch_size: int, seed: int, stream: int = 0) -> None:
        self.sampling, self.crop, self.batch_size, self.seed, self.stream = sampling, crop, batch_size, seed, stream
        store = Store(sampling.store)
        self.clips = CellPool(
            store, store.names("train", synthetic=False), crop=crop, uniform_share=sampling.uniform_share
        )
        self.synthetic = CellPool(
            store, store.names("train", synthetic=True), crop=crop, uniform_share=sampling.uniform_share
        )
        if not self.clips and not self.synthetic:
            raise ValueError(f"the store {sampling.store} has no training triplet of at least {crop} x {crop} px")

    def __len__(self) -> int:
        return 1 << 40

    def sample(self, rng: np.random.Generator) -> dict[str, Tensor | float]:
        use_synthetic = bool(self.synthetic) and (not self.clips or rng.random() < self.sampling.synthetic_fraction)
        pool = self.synthetic if use_synthetic else self.clips
        name, index, top, left = pool.draw(rng)
        stored = pool.store.triplet(name, index)
        frames = tuple(_frame(f, top, left, self.crop) for f in (stored.frame0, stored.truth, stored.frame1))
        flow = torch.from_numpy(
            np.ascontiguousarray(stored.flow[:, top : top + self.crop, left : left + self.crop])
        ).float()
        (frame0, truth, frame1), flow, t = augment_with_flow(frames, flow, stored.t, rng, self.sampling.augment)
        return {"frame0": frame0, "truth": truth, "frame1": frame1, "flow": flow, "t": t}

    def __getitem__(self, step: int) -> dict[str, Tensor]:
        samples = [
            self.sample(np.random.default_rng([self.seed, self.stream, step, i])) for i in range(self.batch_size)
        ]
        batch = {key: torch.stack([s[key] for s in samples]) for key in ("frame0", "truth", "frame1", "flow")}
        batch["t"] = torch.tensor([s["t"] for s in samples], dtype=torch.float32)
        return batch
