"""Gathering square patches out of (B, C, H, W) maps and scattering them back.

Patches are addressed by a flat index over (B, n_h, n_w), row-major.
"""

from __future__ import annotations

import torch
from torch import Tensor


def patch_grid(image: Tensor, patch_size: int) -> tuple[int, int]:
    """(n_h, n_w) of ``image``; H and W must be multiples of the patch size."""
    height, width = image.shape[-2:]
    if height % patch_size or width % patch_size:
        raise ValueError(f"{height}x{width} is not a multiple of the patch size {patch_size}")
    return height // patch_size, width // patch_size


def gather_patches(image: Tensor, index: Tensor, patch_size: int, *, channels_last: bool = False) -> Tensor:
    """Copy the patches at flat indices ``index`` out of ``image`` into (N, C, P, P).

    Only the chosen patches are copied (``image`` may be a channel slice of a larger map).
    With ``channels_last`` the result is laid out (N, P, P, C) in memory, as the CPU
    convolutions want it, without a second copy.
    """
    batch, channels = image.shape[:2]
    rows, cols = patch_grid(image, patch_size)
    b, r, c = index // (rows * cols), (index // cols) % rows, index % cols
    if channels_last:
        view = image.permute(0, 2, 3, 1).view(batch, rows, patch_size, cols, patch_size, channels)
        return view.permute(0, 1, 3, 2, 4, 5)[b, r, c].permute(0, 3, 1, 2)
    view = image.view(batch, channels, rows, patch_size, cols, patch_size)
    return view.permute(0, 2, 4, 1, 3, 5)[b, r, c]


def scatter_patches(image: Tensor, index: Tensor, patches: Tensor, patch_size: int) -> None:
    """Write (N, C, P, P) ``patches`` into ``image`` in place at flat patch indices ``index``."""
    batch, channels = image.shape[:2]
    rows, cols = patch_grid(image, patch_size)
    view = image.view(batch, channels, rows, patch_size, cols, patch_size).permute(0, 2, 4, 1, 3, 5)
    view[index // (rows * cols), (index // cols) % rows, index % cols] = patches.to(image.dtype)


def all_patches(image: Tensor, patch_size: int) -> Tensor:
    """Flat indices of every patch of ``image``."""
    rows, cols = patch_grid(image, patch_size)
    return torch.arange(image.shape[0] * rows * cols, device=image.device)
