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

    pixels = batch * height * width
    # fp64 stays fp64 (gradcheck); fp32, fp16 and bf16 all accumulate and place in fp32.
    precise = torch.promote_types(torch.promote_types(source.dtype, flow.dtype), torch.float32)
    # Channel by channel, (b, y, x) order: one flat view per channel in either memory layout.
    planes = [source[:, c].reshape(pixels) for c in range(channels)]
    flow_x = flow[:, 0].reshape(pixels).to(precise)
    flow_y = flow[:, 1].reshape(pixels).to(precise)
    source_weight = None if weight is None else weight.reshape(pixels).to(precise)
    accumulated = torch.zeros(channels, pixels, dtype=precise, device=source.device)
    total = torch.zeros(pixels, dtype=precise, device=source.device)
    tracked = torch.is_grad_enabled() and (source.requires_grad or flow.requires_grad)
    chunk = chunk_pixels_for(channels, chunk_pixels)
    for start in range(0, pixels, chunk):
        stop = min(start + chunk, pixels)
        index, bilinear = bilinear_corners(
            start,
            stop,
            height,
            width,
            flow_x[start:stop],
            flow_y[start:stop],
            None if source_weight is None else source_weight[start:stop],
        )
        index = index.view(-1)
        # All four corners in one 1-D scatter per channel, and scatter_add_ rather than index_add_
        # (the same sums in the same order): both faster on the CPU (BENCHMARKS §6).
        for c, plane in enumerate(planes):
            accumulated[c].scatter_add_(0, index, (plane[start:stop] * bilinear).view(-1))
        total.scatter_add_(0, index, bilinear.view(-1))

    hole = (total == 0).to(precise)
    # A normaliser of 0 becomes 1 so holes come out as 0 (the EBME convention).
    denominator = total + hole
    image = accumulated / denominator if tracked else accumulated.div_(denominator)
    shape = (batch, 1, height, width)
    return SplatResult(
        image=image.to(source.dtype).view(channels, batch, height, width).transpose(0, 1),
        weight=total.view(shape),
        hole=hole.view(shape),
    )


def chunk_pixels_for(channels: int, limit: int = 1 << 18) -> int:
    """Source pixels :func:`forward_splat` scatters at a time for ``channels`` channels (at most ``limit``).

    The chunks fix the order in which values add up on a target pixel: splats of a channel
    split given the whole's chunk size sum exactly as the whole does.
    """
    return max(1, min(limit, _CHUNK_VALUES // (4 * max(channels, 1))))


def bilinear_corners(
    start: int,
    stop: int,
    height: int,
    width: int,
    flow_x: Tensor,
    flow_y: Tensor,
    source_weight: Tensor | None,
    *,
    tile: int | None = None,
) -> tuple[Tensor, Tensor]:
    """Flat target indices (4, n) and bilinear weights (4, n) of source pixels [start, stop).

    Corners outside the frame get weight 0 (and a clamped, valid index). Target indices are
    (b, y, x) row-major, or with ``tile`` (dividing H and W) tile by tile: (b, tile row, tile
    column, y in tile, x in tile), so each tile's pixels are one run of indices.
    """
    rows = torch.arange(start, stop, device=flow_x.device)
    plane = rows // (height * width)
    target_x = (rows % width).to(flow_x.dtype) + flow_x
    target_y = ((rows // width) % height).to(flow_y.dtype) + flow_y
    left, top = torch.floor(target_x), torch.floor(target_y)
    frac_x, frac_y = target_x - left, target_y - top
    # Clamped before the integer cast, so a huge or non-finite flow cannot overflow it.
    left = left.clamp(-2, width).long()
    top = top.clamp(-2, height).long()
    xs = torch.stack([left, left + 1])  # (2, n)
    ys = torch.stack([top, top + 1])
    weight_x = torch.stack([1 - frac_x, frac_x]) * ((xs >= 0) & (xs < width))
    weight_y = torch.stack([1 - frac_y, frac_y]) * ((ys >= 0) & (ys < height))
    if source_weight is not None:
        weight_y = weight_y * source_weight
    bilinear = (weight_y[:, None] * weight_x[None]).reshape(4, -1)  # corners (y, x) = 00, 01, 10, 11
    ys, xs = ys.clamp_(0, height - 1), xs.clamp_(0, width - 1)
    if tile is None:
        offset_y, offset_x = plane * (height * width) + ys * width, xs
    else:
        offset_y = (
            plane * (height * width) + torch.div(ys, tile, rounding_mode="floor") * (tile * width) + ys % tile * tile
        )
        offset_x = torch.div(xs, tile, rounding_mode="floor") * (tile * tile) + xs % tile
    index = (offset_y[:, None] + offset_x[None]).reshape(4, -1)
    return index, bilinear
