"""The reference route map M' that supervises the router (paper §3.3, eq. 5)."""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor


@torch.no_grad()
def patch_difficulty(warped0: Tensor, warped1: Tensor, hole0: Tensor, hole1: Tensor, *, patch_size: int) -> Tensor:
    """P_diff = MaxPool(AvgPool4(|W0 - W1| * (1 - hole))) per patch.

    Args:
        warped0, warped1: (B, 3, H, W) frames warped to t; H and W multiples of ``patch_size``.
        hole0, hole1: (B, 1, H, W) masks, 1 where the splatting left a hole; the difference is
            zeroed where either is a hole (holes are easy to fill and would dominate).
        patch_size: 64 in the paper: AvgPool4 then MaxPool16 give one value per patch.

    Returns:
        (B, n_h, n_w) patch difficulty.
    """
    difference = (warped0 - warped1).abs().mean(dim=1, keepdim=True)
    difference = difference * (1 - torch.maximum(hole0, hole1))
    pooled = F.avg_pool2d(difference.float(), 4)
    return F.max_pool2d(pooled, patch_size // 4)[:, 0]


@torch.no_grad()
def reference_route_map(
    difficulty: Tensor, keep_ratios: tuple[float, ...], *, rank_over: Literal["image", "batch"] = "image"
) -> Tensor:
    """Label 1 (pass) for the top ``keep_ratios[k]`` fraction of patches by difficulty, per block k.

    Args:
        difficulty: (B, n_h, n_w) from :func:`patch_difficulty`.
        keep_ratios: one ratio per dynamic block (the paper: 0.1, 0.4, 0.6, 0.9).
        rank_over: rank the patches of each image (the paper), or of the whole batch (for crops
            of one or a few patches, where a per-image ranking has nothing to rank).

    Returns:
        (B, D, n_h, n_w) float 0/1.
    """
    batch, rows, cols = difficulty.shape
    scores = difficulty.reshape(1 if rank_over == "batch" else batch, -1)
    labels = torch.zeros(scores.shape[0], len(keep_ratios), scores.shape[1], device=difficulty.device)
    # a stable ordering: descending difficulty, ties broken by position
    order = torch.argsort(scores, dim=1, descending=True, stable=True)
    for block, ratio in enumerate(keep_ratios):
        count = math.ceil(ratio * scores.shape[1] - 1e-9)
        if count:
            labels[:, block].scatter_(1, order[:, :count], 1.0)
    labels = labels.view(-1, len(keep_ratios), batch if rank_over == "batch" else 1, rows, cols)
    if rank_over == "batch":
        return labels[0].permute(1, 0, 2, 3).contiguous()
    return labels[:, :, 0]
