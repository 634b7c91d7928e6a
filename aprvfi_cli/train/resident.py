"""Training triplets resident on the training device: frames decoded once, the frozen flow computed
once, crops, augmentation and whole batches drawn there.

A lent GPU runs for minutes at a time, so nothing in a step may wait on the host, the disk or a
loader process. Every frame of the training pack is uploaded once as uint8; at the start of a leg
the frozen flow network runs on every triplet's *whole* frames, exactly as inference runs it (a
crop-local flow would lose every motion that leaves the crop), and its output stays on the device
in fp16 beside the flow-only error per cell, which weights where crops are drawn. A batch is then
a handful of gathers on the device, and a pure function of (seed, stream, step): a resumed leg
draws exactly the batches an uninterrupted run would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from aprvfi_cli.eval.devset import DevBatch
from aprvfi_cli.model import APRVFI, DEFAULT_FLOW_SCALE
from aprvfi_cli.placement import Placement
from aprvfi_cli.train.augment import AugmentConfig, AugmentedSampling, augment_batch_with_flow


@dataclass(frozen=True)
class ClipTriplets:
    """One clip's frames and triplets as decoded on the host.

    Attributes:
        name: the clip's name (dev scores are reported per clip).
        frames: (F, H, W, 3) uint8 RGB.
        triplets: (N, 3) frame indices: input 0, truth, input 1.
        t: (N,) time of the truth between the inputs.
        synthetic: rendered, not filmed (drawn with the synthetic share).
    """

    name: str
    frames: np.ndarray
    triplets: np.ndarray
    t: np.ndarray
    synthetic: bool = False


@dataclass(frozen=True)
class ResidentSampling(AugmentedSampling):
    """How a GPU leg's crops are drawn from a training pack (stored in checkpoints).

    Attributes:
        pack: the training pack folder (``aprvfi data pack``).
        synthetic_fraction: share of crops from synthetic clips (0 where the pack has none).
        uniform_share: share of the cell weights spread uniformly (1: plain uniform sampling).
        cell: side of the cells the flow-only error is pooled over (px).
        max_clips: use at most this many of the pack's clips, evenly spread (None: all; a dry run's few).
        max_triplets_per_clip: use at most this many triplets of each clip and split (None: all).
        augment: flips, rot90, temporal swap, channel order.
    """

    pack: str
    synthetic_fraction: float = 0.0
    uniform_share: float = 0.3
    cell: int = 32
    max_clips: int | None = None
    max_triplets_per_clip: int | None = None
    augment: AugmentConfig = field(default_factory=AugmentConfig)


@dataclass
class SizeGroup:
    """The triplets of every clip of one frame size, on the device.

    Attributes:
        frames: (F, 3, H, W) uint8, the frames of all its clips.
        triplets: (N, 3) int64 indices into ``frames``.
        t: (N,) float32.
        clip: (N,) int64 index of each triplet's clip in :attr:`ResidentTriplets.names`.
        flow: (N, 4, H, W) float16 whole-frame F01 (x, y), F10 (x, y) in pixels.
        error: (N, H // cell, W // cell) float32 flow-only squared error per cell.
        synthetic: its clips are synthetic.
    """

    frames: Tensor
    triplets: Tensor
    t: Tensor
    clip: Tensor
    flow: Tensor
    error: Tensor
    synthetic: bool

    @property
    def size(self) -> tuple[int, int]:
        return int(self.frames.shape[-2]), int(self.frames.shape[-1])

    def take(self, index: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Frame0, truth, frame1 of triplets ``index`` (n,) as (n, 3, H, W) floats in [0, 1]."""
        rows = self.triplets[index]
        return tuple(self.frames[rows[:, k]].float().div_(255) for k in range(3))  # type: ignore[return-value]


class ResidentTriplets:
    """Every triplet of some clips, resident on one device, grouped by frame size."""

    def __init__(self, groups: list[SizeGroup], names: list[str]) -> None:
        self.groups, self.names = groups, names

    def __len__(self) -> int:
        return sum(int(g.t.numel()) for g in self.groups)

    @property
    def nbytes(self) -> int:
        """Device memory the frames, flow and errors take."""
        return sum(t.numel() * t.element_size() for g in self.groups for t in (g.frames, g.flow, g.error, g.triplets))

    @classmethod
    @torch.no_grad()
    def build(
        cls,
        clips: Sequence[ClipTriplets],
        *,
        model: APRVFI,
        placement: Placement,
        cell: int = 32,
        batch: int = 8,
        progress: Callable[[int, int], None] | None = None,
    ) -> ResidentTriplets:
        """Upload the clips' frames and compute every triplet's whole-frame flow and flow-only error.

        Args:
            clips: clips with at least one triplet each (others are skipped).
            model: supplies the frozen flow network; its ``estimate`` runs under the placement's
                autocast, at inference's default flow scale, exactly as inference runs it.
            placement: the device and precision.
            cell: side of the error cells (px).
            batch: triplets per flow call.
            progress: called with (triplets done, triplets in all).
        """
        model.eval()
        names = [c.name for c in clips if len(c.triplets)]
        by_size: dict[tuple[int, int, bool], list[ClipTriplets]] = {}
        for clip in clips:
            if len(clip.triplets):
                by_size.setdefault((*clip.frames.shape[1:3], clip.synthetic), []).append(clip)
        total, done, groups = sum(len(c.triplets) for c in clips), 0, []
        for (_, _, synthetic), members in by_size.items():
            offsets = np.cumsum([0] + [len(c.frames) for c in members])
            frames = torch.cat([_upload(c.frames, placement.device) for c in members])
            triplets = torch.cat(
                [
                    torch.as_tensor(c.triplets, dtype=torch.int64) + int(o)
                    for c, o in zip(members, offsets, strict=False)
                ]
            ).to(placement.device)
            t = torch.cat([torch.as_tensor(c.t, dtype=torch.float32) for c in members]).to(placement.device)
            clip = torch.cat(
                [torch.full((len(c.triplets),), names.index(c.name), dtype=torch.int64) for c in members]
            ).to(placement.device)
            group = SizeGroup(
                frames, triplets, t, clip, flow=frames.new_empty(0), error=t.new_empty(0), synthetic=synthetic
            )
            flows, errors = [], []
            for start in range(0, len(t), batch):
                index = torch.arange(start, min(start + batch, len(t)), device=placement.device)
                flow, error = _flow_and_error(model, group, index, placement=placement, cell=cell)
                flows.append(flow)
                errors.append(error)
                done += len(index)
                if progress:
                    progress(done, total)
            group.flow, group.error = torch.cat(flows), torch.cat(errors)
            groups.append(group)
        return cls(groups, names)

    def dev_batches(self, batch: int = 8) -> Iterator[DevBatch]:
        """Every triplet as whole-frame batches of at most ``batch`` (one frame size each), in order."""
        for group in self.groups:
            for start in range(0, int(group.t.numel()), batch):
                index = torch.arange(start, min(start + batch, int(group.t.numel())), device=group.t.device)
                frame0, _, frame1 = group.take(index)
                rows = group.triplets[index]
                yield DevBatch(
                    frame0=frame0,
                    frame1=frame1,
                    truth=group.frames[rows[:, 1]],
                    flow=group.flow[index].float(),
                    t=group.t[index],
                    clips=[self.names[i] for i in group.clip[index].tolist()],
                )


@dataclass(frozen=True)
class ResidentData:
    """A leg's data on the device: the training triplets and the held-back dev triplets."""

    train: ResidentTriplets
    dev: ResidentTriplets


def _upload(frames: np.ndarray, device: torch.device) -> Tensor:
    """(F, H, W, 3) uint8 on the host -> (F, 3, H, W) uint8 on the device."""
    return torch.from_numpy(np.ascontiguousarray(frames)).to(device).permute(0, 3, 1, 2).contiguous()


def _flow_and_error(
    model: APRVFI, group: SizeGroup, index: Tensor, *, placement: Placement, cell: int
) -> tuple[Tensor, Tensor]:
    """Whole-frame flow (n, 4, H, W) fp16 and flow-only squared error per cell (n, H // cell, W // cell)."""
    frame0, truth, frame1 = group.take(index)
    height, width = group.size
    with placement.autocast():
        pair = model.estimate(placement.to(frame0), placement.to(frame1), context=False, flow_scale=DEFAULT_FLOW_SCALE)
        guess = model.flow_only(pair, group.t[index])
    flow = pair.flow[:, :, :height, :width].to(torch.float16)
    error = (guess.float() - truth).square().mean(dim=1, keepdim=True)
    cells = F.avg_pool2d(error, cell)[:, 0] if min(height, width) >= cell else error.mean(dim=(1, 2, 3))[:, None, None]
    return flow.contiguous(), cells.float()


class CellWeights:
    """Every (group, triplet, cell) of the groups that hold a crop, with a drawing weight: the flow-only
    error, mixed with a uniform share so easy content is not forgotten.

    The weights live on the host: drawing a batch's few hundred indices there and sending them over
    in one copy never makes the host wait for the device, as reading a device tensor back would.
    """

    def __init__(self, groups: list[SizeGroup], *, crop: int, uniform_share: float) -> None:
        self.groups = [g for g in groups if min(g.size) >= crop]
        self.crop = crop
        flat = [g.error.reshape(-1).double().cpu() for g in self.groups]
        self.offsets = torch.tensor([0] + [f.numel() for f in flat]).cumsum(0)
        weights = torch.cat(flat) if flat else torch.zeros(0, dtype=torch.float64)
        if weights.numel():
            total = weights.sum()
            errors = weights / total if total > 0 else torch.full_like(weights, 1 / weights.numel())
            weights = (1 - uniform_share) * errors + uniform_share / weights.numel()
        self.cumulative = weights.cumsum(0)

    def __bool__(self) -> bool:
        return bool(self.groups)

    def draw(self, count: int, generator: torch.Generator, cell: int) -> list[tuple[SizeGroup, Tensor]]:
        """``count`` crops drawn on the host: per group drawn from, (group, (n, 3) int64 rows of triplet
        index, top, left)."""
        u = torch.rand(count, generator=generator, dtype=torch.float64) * self.cumulative[-1]
        flat = torch.searchsorted(self.cumulative, u, right=True).clamp_(max=self.cumulative.numel() - 1)
        owner = torch.searchsorted(self.offsets, flat, right=True) - 1
        jitter = torch.randint(0, self.crop, (2, count), generator=generator)
        drawn = []
        for number, group in enumerate(self.groups):
            mine = (owner == number).nonzero()[:, 0]
            if not mine.numel():
                continue
            rows, cols = group.error.shape[1:]
            local = flat[mine] - self.offsets[number]
            index, rest = local // (rows * cols), local % (rows * cols)
            height, width = group.size
            top = (rest // cols * cell + cell // 2 - jitter[0, mine]).clamp(0, height - self.crop)
            left = (rest % cols * cell + cell // 2 - jitter[1, mine]).clamp(0, width - self.crop)
            drawn.append((group, torch.stack([index, top, left], dim=1)))
        return drawn


def _crop(images: Tensor, index: Tensor, top: Tensor, left: Tensor, size: int) -> Tensor:
    """(n, C, size, size) windows of ``images[index]`` at (top, left), one gather."""
    steps = torch.arange(size, device=images.device)
    rows = (top[:, None] + steps)[:, None, :, None]
    cols = (left[:, None] + steps)[:, None, None, :]
    channels = torch.arange(images.shape[1], device=images.device)[None, :, None, None]
    return images[index[:, None, None, None], channels, rows, cols]


class ResidentBatches:
    """``batches[step]``: that step's batch on the device: frame0, truth, frame1 (B, 3, S, S) in [0, 1],
    flow (B, 4, S, S) in pixels, t (B,). Deterministic in (seed, stream, step)."""

    def __init__(
        self,
        triplets: ResidentTriplets,
        sampling: ResidentSampling,
        *,
        crop: int,
        batch_size: int,
        seed: int,
        stream: int = 0,
    ) -> None:
        self.sampling, self.crop, self.batch_size, self.seed, self.stream = sampling, crop, batch_size, seed, stream
        pools = {
            synthetic: CellWeights(
                [g for g in triplets.groups if g.synthetic == synthetic],
                crop=crop,
                uniform_share=sampling.uniform_share,
            )
            for synthetic in (False, True)
        }
        self.clips, self.synthetic = pools[False], pools[True]
        if not self.clips and not self.synthetic:
            raise ValueError(f"no training triplet holds a {crop} x {crop} crop")

    def __getitem__(self, step: int) -> dict[str, Tensor]:
        seed = int(np.random.SeedSequence([self.seed, self.stream, step]).generate_state(1)[0])
        host = torch.Generator().manual_seed(seed)
        synthetic_share = self.sampling.synthetic_fraction if self.clips and self.synthetic else float(not self.clips)
        from_synthetic = int((torch.rand(self.batch_size, generator=host) < synthetic_share).sum())
        drawn = [
            part
            for pool, count in ((self.clips, self.batch_size - from_synthetic), (self.synthetic, from_synthetic))
            if count
            for part in pool.draw(count, host, self.sampling.cell)
        ]
        parts: dict[str, list[Tensor]] = {"frame0": [], "truth": [], "frame1": [], "flow": [], "t": []}
        for group, picked in drawn:
            index, top, left = _to_device(picked, group.frames.device).unbind(1)
            rows = group.triplets[index]
            for key, column in (("frame0", 0), ("truth", 1), ("frame1", 2)):
                parts[key].append(_crop(group.frames, rows[:, column], top, left, self.crop).float().div_(255))
            parts["flow"].append(_crop(group.flow, index, top, left, self.crop).float())
            parts["t"].append(group.t[index])
        batch = {key: torch.cat(values) for key, values in parts.items()}
        device = batch["t"].device
        generator = torch.Generator(device=device).manual_seed(seed)
        (batch["frame0"], batch["truth"], batch["frame1"]), batch["flow"], batch["t"] = augment_batch_with_flow(
            (batch["frame0"], batch["truth"], batch["frame1"]),
            batch["flow"],
            batch["t"],
            generator,
            self.sampling.augment,
        )
        return batch


def _to_device(indices: Tensor, device: torch.device) -> Tensor:
    """Host indices to the device without waiting for it (pinned memory, asynchronous copy)."""
    if device.type != "cuda":
        return indices
    return indices.pin_memory().to(device, non_blocking=True)
