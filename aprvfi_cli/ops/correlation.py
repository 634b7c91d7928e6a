"""Local correlation (cost volume) between two feature maps, as in PWC-Net and EBME."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def local_correlation(feat0: Tensor, feat1: Tensor, *, radius: int = 4) -> Tensor:
    """Correlate each position of ``feat0`` with a (2r+1)^2 window of ``feat1``.

    Output channel ``(dy + r) * (2r + 1) + (dx + r)`` holds
    ``mean_c feat0[c, y, x] * feat1[c, y + dy, x + dx]``; positions outside the image count as 0.

    Args:
        feat0, feat1: (B, C, H, W) feature maps of the same shape.
        radius: the largest displacement r in either direction.

    Returns:
        (B, (2r+1)^2, H, W) correlation volume (no activation applied).
    """
    if feat0.shape != feat1.shape or feat0.dim() != 4:
        raise ValueError(f"feature maps must share a 4-D shape: {tuple(feat0.shape)} vs {tuple(feat1.shape)}")
    _, channels, height, width = feat0.shape
    padded = F.pad(feat1, (radius, radius, radius, radius))
    size = 2 * radius + 1
    volumes = [
        (feat0 * padded[:, :, dy : dy + height, dx : dx + width]).sum(dim=1, keepdim=True)
        for dy in range(size)
        for dx in range(size)
    ]
    return torch.cat(volumes, dim=1) / channels
