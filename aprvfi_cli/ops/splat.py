"""Forward warping by average splatting (DESIGN §3.2).

Every source pixel pushes its value to the four integer neighbours of its target position
``p + flow(p)`` with bilinear weights; each target pixel is the weighted mean of what landed on
it. Targets that receive no weight are holes: value 0, hole mask 1. Written once with
``index_add_`` so it is differentiable in both the input and the flow and runs on any device.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class SplatResult:
    """Output of :func:`forward_splat`.

    Attributes:
        image: (B, C, H, W) splatted values, 0 in holes.
        weight: (B, 1, H, W) sum of the bilinear weights that landed on each pixel.
        hole: (B, 1, H, W) float mask, 1 where nothing landed.
    """

    image: Tensor
    weight: Tensor
    hole: Tensor


def forward_splat(
    source: Tensor, flow: Tensor, *, weight: Tensor | None = None, chunk_pixels: int = 1 << 18
) -> SplatResult:
    """Average-splat ``source`` along ``flow``.

    Args:
        source: (B, C, H, W) values to move.
        flow: (B, 2, H, W) displacement in pixels; channel 0 is x (right), 1 is y (down).
        weight: optional (B, 1, H, W) importance of each source pixel (default 1); a pixel of
            weight 0 (e.g. padding) lands nowhere.
        chunk_pixels: source pixels scattered at a time; bounds the temporary memory to
            about ``chunk_pixels * C`` values whatever the frame size (4K included).

    Returns:
        A :class:`SplatResult` with the splatted image, the weight map and the hole mask.
    """
    if source.dim() != 4 or flow.dim() != 4:
        raise ValueError(f"expected 4-D tensors, got source {tuple(source.shape)}, flow {tuple(flow.shape)}")
    batch, channels, height, width = source.shape
    if flow.shape != (batch, 2, height, width):
        raise ValueError(f"flow must be ({batch}, 2, {height}, {width}), got {tuple(flow.shape)}")

    pixels = batch * height * width
    # (N, C) rows in (b, y, x) order: a free view when the source is channels_last.
    values = source.permute(0, 2, 3, 1).reshape(pixels, channels)
    flow_x = flow[:, 0].to(source.dtype).reshape(pixels)
    flow_y = flow[:, 1].to(source.dtype).reshape(pixels)
    source_weight = None if weight is None else weight.to(source.dtype).reshape(pixels)
    accumulated = source.new_zeros(pixels, channels)
    total = source.new_zeros(pixels)

    for start in range(0, pixels, chunk_pixels):
        stop = min(start + chunk_pixels, pixels)
        rows = torch.arange(start, stop, device=source.device)
        image_index = rows // (height * width)
        target_x = (rows % width).to(source.dtype) + flow_x[start:stop]
        target_y = ((rows // width) % height).to(source.dtype) + flow_y[start:stop]
        left, top = torch.floor(target_x), torch.floor(target_y)
        frac_x, frac_y = target_x - left, target_y - top
        chunk_values = values[start:stop]  # a view, not a copy
        for corner_x, corner_y, bilinear in (
            (left, top, (1 - frac_x) * (1 - frac_y)),
            (left + 1, top, frac_x * (1 - frac_y)),
            (left, top + 1, (1 - frac_x) * frac_y),
            (left + 1, top + 1, frac_x * frac_y),
        ):
            inside = (corner_x >= 0) & (corner_x <= width - 1) & (corner_y >= 0) & (corner_y <= height - 1)
            index = (
                image_index * (height * width)
                + corner_y.clamp(0, height - 1).long() * width
                + corner_x.clamp(0, width - 1).long()
            )
            bilinear = bilinear * inside
            if source_weight is not None:
                bilinear = bilinear * source_weight[start:stop]
            accumulated.index_add_(0, index, chunk_values * bilinear[:, None])
            total.index_add_(0, index, bilinear)

    total = total.view(batch, height, width, 1)
    hole = (total == 0).to(source.dtype)
    # A normaliser of 0 becomes 1 so holes come out as 0 (the EBME convention).
    denominator = total + hole
    accumulated = accumulated.view(batch, height, width, channels)
    image = accumulated / denominator if accumulated.requires_grad else accumulated.div_(denominator)
    return SplatResult(
        image=image.permute(0, 3, 1, 2),
        weight=total.permute(0, 3, 1, 2),
        hole=hole.permute(0, 3, 1, 2),
    )
