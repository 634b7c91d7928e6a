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


def forward_splat(source: Tensor, flow: Tensor, *, weight: Tensor | None = None) -> SplatResult:
    """Average-splat ``source`` along ``flow``.

    Args:
        source: (B, C, H, W) values to move.
        flow: (B, 2, H, W) displacement in pixels; channel 0 is x (right), 1 is y (down).
        weight: optional (B, 1, H, W) importance of each source pixel (default 1); a pixel of
            weight 0 (e.g. padding) lands nowhere.

    Returns:
        A :class:`SplatResult` with the splatted image, the weight map and the hole mask.
    """
    if source.dim() != 4 or flow.dim() != 4:
        raise ValueError(f"expected 4-D tensors, got source {tuple(source.shape)}, flow {tuple(flow.shape)}")
    batch, channels, height, width = source.shape
    if flow.shape != (batch, 2, height, width):
        raise ValueError(f"flow must be ({batch}, 2, {height}, {width}), got {tuple(flow.shape)}")

    flow = flow.to(source.dtype)
    grid_y, grid_x = torch.meshgrid(
        torch.arange(height, device=source.device, dtype=source.dtype),
        torch.arange(width, device=source.device, dtype=source.dtype),
        indexing="ij",
    )
    target_x = grid_x + flow[:, 0]  # (B, H, W)
    target_y = grid_y + flow[:, 1]
    left = torch.floor(target_x)
    top = torch.floor(target_y)
    frac_x = target_x - left
    frac_y = target_y - top

    # Values carry an extra channel of ones so one scatter gives both the sum and the weight.
    ones = torch.ones_like(source[:, :1])
    values = torch.cat([source, ones], dim=1).permute(0, 2, 3, 1).reshape(-1, channels + 1)
    # The source weight scales each pixel's (1-channel) bilinear weights, not its C values.
    source_weight = None if weight is None else weight.to(source.dtype).reshape(-1, 1)
    batch_offset = (torch.arange(batch, device=source.device) * (height * width)).view(batch, 1, 1)

    accumulated = source.new_zeros(batch * height * width, channels + 1)
    corners = (
        (left, top, (1 - frac_x) * (1 - frac_y)),
        (left + 1, top, frac_x * (1 - frac_y)),
        (left, top + 1, (1 - frac_x) * frac_y),
        (left + 1, top + 1, frac_x * frac_y),
    )
    for corner_x, corner_y, bilinear in corners:
        inside = (corner_x >= 0) & (corner_x <= width - 1) & (corner_y >= 0) & (corner_y <= height - 1)
        index = corner_y.clamp(0, height - 1).long() * width + corner_x.clamp(0, width - 1).long()
        index = (index + batch_offset).reshape(-1)
        bilinear = (bilinear * inside).reshape(-1, 1)
        if source_weight is not None:
            bilinear = bilinear * source_weight
        accumulated.index_add_(0, index, values * bilinear)

    accumulated = accumulated.view(batch, height, width, channels + 1).permute(0, 3, 1, 2)
    total = accumulated[:, channels:]
    hole = (total == 0).to(source.dtype)
    # A normaliser of 0 becomes 1 so holes come out as 0 (the EBME convention).
    image = accumulated[:, :channels] / (total + hole)
    return SplatResult(image=image, weight=total, hole=hole)
