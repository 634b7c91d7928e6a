"""Forward warping by average splatting.

Every source pixel pushes its value to the four integer neighbours of its target position
``p + flow(p)`` with bilinear weights; each target pixel is the weighted mean of what landed on
it. Targets that receive no weight are holes: value 0, hole mask 1. Written with one
accumulating scatter per channel and one of the weights per chunk of source pixels (all four
corners at once), so it is differentiable in both the input and the flow and runs on any device.

Precision: positions, bilinear weights and the accumulators are at least fp32 whatever the
source's dtype (bf16 rounds a coordinate above 512 px by 4-8 px); only the values may be
low precision, and the image comes back in the source's dtype.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

# Values a chunk's scatters take in all (4 corners x C channels): about 64 MB in fp32.
_CHUNK_VALUES = 1 << 24


@dataclass(frozen=True)
class SplatResult:
    """Output of :func:`forward_splat`.

    Attributes:
        image: (B, C, H, W) splatted values in the source's dtype, 0 in holes.
        weight: (B, 1, H, W) sum of the bilinear weights that landed on each pixel (>= fp32).
        hole: (B, 1, H, W) float mask, 1 where nothing landed (>= fp32).
    """

    image: Tensor
    weight: Tensor
    hole: Tensor


def forward_splat(
    source: Tensor, flow: Tensor, *, weight: Tensor | None = None, chunk_pixels: int = 1 << 18
) -> SplatResult:
    """Average-splat ``source`` along ``flow``.

    Args:
        source: (B, C, H, W) values to move, any float dtype.
        flow: (B, 2, H, W) displacement in pixels; channel 0 is x (right), 1 is y (down).
            Used in fp32 at least, whatever its dtype.
        weight: optional (B, 1, H, W) importance of each source pixel (default 1); a pixel of
            weight 0 (e.g. padding) lands nowhere.
        chunk_pixels: at most this many source pixels are scattered at a time (fewer for wide
            sources); bounds the temporary memory whatever the frame size (4K included).

    Returns:
        A :class:`SplatResult` with the splatted image, the weight map and the hole mask.
    """
    if source.dim() != 4 or flow.dim() != 4:
        raise ValueError(f"expected 4-D tensors, got source {tuple(source.shape)}, flow {tuple(flow.shape)}")
    batch, channels, height, width = source.shape
    if flow.shape != (batch, 2, height, width):
        raise ValueError(f"flow must be ({batch}, 2, {height}, {width}), got {tuple(flow.shape)}")

    rows = batch * height
    # fp64 stays fp64 (gradcheck); fp32, fp16 and bf16 all accumulate and place in fp32.
    precise = torch.promote_types(torch.promote_types(source.dtype, flow.dtype), torch.float32)
    # Channel by channel, (b, y) rows of x: one view per channel in either memory layout.
    planes = [source[:, c].reshape(rows, width) for c in range(channels)]
    flow_x = flow[:, 0].reshape(rows, width).to(precise)
    flow_y = flow[:, 1].reshape(rows, width).to(precise)
    source_weight = None if weight is None else weight.reshape(rows, width).to(precise)
    # Targets land on a canvas with a border of _BORDER px: a corner that leaves the frame lands
    # in the border, dropped at the end, so no corner needs a validity mask or its own clamp.
    canvas = canvas_of(batch, height, width)
    accumulated = torch.zeros(channels, math.prod(canvas), dtype=precise, device=source.device)
    total = torch.zeros(math.prod(canvas), dtype=precise, device=source.device)
    step = max(1, chunk_pixels_for(channels, chunk_pixels) // width)  # whole rows at a time
    columns = torch.arange(width, device=source.device, dtype=precise)
    offsets = torch.tensor(corner_offsets(canvas), device=source.device)
    for start in range(0, rows, step):
        stop = min(start + step, rows)
        base, bilinear = canvas_corners(
            start,
            stop,
            canvas,
            columns,
            flow_x[start:stop],
            flow_y[start:stop],
            None if source_weight is None else source_weight[start:stop],
        )
        index = (base[None] + offsets[:, None]).view(-1)
        # All four corners in one 1-D scatter per channel, and scatter_add_ rather than index_add_
        # (the same sums in the same order): both faster on the CPU (BENCHMARKS §6).
        for c, plane in enumerate(planes):
            accumulated[c].scatter_add_(0, index, (plane[start:stop].reshape(1, -1) * bilinear).view(-1))
        total.scatter_add_(0, index, bilinear.view(-1))

    inner = frame_on_canvas(height, width)
    total = total.view(batch, 1, *canvas[1:])[inner]
    hole = (total == 0).to(precise)
    # A normaliser of 0 becomes 1 so holes come out as 0 (the EBME convention).
    denominator = total + hole
    image = accumulated.view(channels, batch, *canvas[1:])[inner] / denominator.transpose(0, 1)
    return SplatResult(image=image.to(source.dtype).transpose(0, 1), weight=total, hole=hole)


_BORDER = 2  # px around the canvas: bilinear corners clamped to [-2, size] all land inside it


def canvas_of(batch: int, height: int, width: int) -> tuple[int, int, int]:
    """(B, H + 4, W + 4): the canvas the corners of (B, H, W) frames land on, border included."""
    return batch, height + 2 * _BORDER, width + 2 * _BORDER


def frame_on_canvas(height: int, width: int, *, shift: tuple[int, int] = (0, 0)) -> tuple:
    """Index of the frame's pixels on a canvas (its last two dimensions); ``shift`` (dy, dx) moves
    it up and left: the cells whose corner (dy, dx) lands on each frame pixel."""
    (dy, dx), border = shift, _BORDER
    return (..., slice(border - dy, border + height - dy), slice(border - dx, border + width - dx))


def corner_offsets(canvas: tuple[int, int, int]) -> tuple[int, int, int, int]:
    """Flat canvas offsets of the corners (y, x) = 00, 01, 10, 11 from the top-left one."""
    width = canvas[2]
    return 0, 1, width, width + 1


def canvas_corners(
    start: int,
    stop: int,
    canvas: tuple[int, int, int],
    columns: Tensor,
    flow_x: Tensor,
    flow_y: Tensor,
    source_weight: Tensor | None,
) -> tuple[Tensor, Tensor]:
    """Where the source pixels of (b, y) rows [start, stop) land on the ``canvas`` (B, H + 4, W + 4).

    Args:
        columns: (W,) 0, 1, ..., W - 1 in the flows' dtype.
        flow_x, flow_y: (rows, W) displacement in pixels.
        source_weight: (rows, W) or None.

    Returns:
        The flat canvas index of each pixel's top-left corner (n,) (int64; add
        :func:`corner_offsets` for the others), and the bilinear weights (4, n) of the corners
        (y, x) = 00, 01, 10, 11. A corner outside the frame lands in the border.
    """
    planes, canvas_height, canvas_width = canvas
    height, width = canvas_height - 2 * _BORDER, canvas_width - 2 * _BORDER
    rows = torch.arange(start, stop, device=flow_x.device)
    target_x = flow_x + columns
    target_y = flow_y + (rows % height).to(flow_y.dtype)[:, None]
    left, top = torch.floor(target_x), torch.floor(target_y)
    frac_x, frac_y = (target_x - left).view(-1), (target_y - top).view(-1)
    weight_x = torch.stack([1 - frac_x, frac_x])
    weight_y = torch.stack([1 - frac_y, frac_y])
    if source_weight is not None:
        weight_y = weight_y * source_weight.reshape(-1)
    bilinear = (weight_y[:, None] * weight_x[None]).reshape(4, -1)
    # Clamped after the integer cast: whatever a huge or non-finite position casts to, it lands in the border.
    row_base = ((rows // height) * canvas_height + _BORDER) * canvas_width + _BORDER  # (rows,)
    top = top.long().clamp_(-_BORDER, height).mul_(canvas_width).add_(row_base[:, None])
    return left.long().clamp_(-_BORDER, width).add_(top).view(-1), bilinear


def chunk_pixels_for(channels: int, limit: int = 1 << 18) -> int:
    """Source pixels :func:`forward_splat` scatters at a time for ``channels`` channels (at most ``limit``).

    The chunks fix the order in which values add up on a target pixel: splats of a channel
    split given the whole's chunk size sum exactly as the whole does.
    """
    return max(1, min(limit, _CHUNK_VALUES // (4 * max(channels, 1))))
