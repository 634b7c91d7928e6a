"""Gathering square patches out of (B, C, H, W) maps and scattering them back."""

from __future__ import annotations

import torch
from torch import Tensor


def patch_view(image: Tensor, patch_size: int) -> Tensor:
    """A (B, n_h, n_w, C, P, P) view of ``image`` (no copy); H and W must be multiples of P."""
    batch, channels, height, width = image.shape
    if height % patch_size or width % patch_size:
        raise ValueError(f"{height}x{width} is not a multiple of the patch size {patch_size}")
    rows, cols = height // patch_size, width // patch_size
    return image.view(batch, channels, rows, patch_size, cols, patch_size).permute(0, 2, 4, 1, 3, 5)


def gather_patches(image: Tensor, index: Tensor, patch_size: int) -> Tensor:
    """Copy the patches with flat indices ``index`` (over B * n_h * n_w) into (N, C, P, P)."""
    view = patch_view(image, patch_size)
    _, rows, cols = view.shape[:3]
    return view[index // (rows * cols), (index // cols) % rows, index % cols]


def scatter_patches(image: Tensor, index: Tensor, patches: Tensor, patch_size: int) -> None:
    """Write (N, C, P, P) ``patches`` into ``image`` in place at flat patch indices ``index``."""
    view = patch_view(image, patch_size)
    _, rows, cols = view.shape[:3]
    view[index // (rows * cols), (index // cols) % rows, index % cols] = patches.to(image.dtype)


def patch_count(image: Tensor, patch_size: int) -> int:
    batch, _, height, width = image.shape
    return batch * (height // patch_size) * (width // patch_size)


def all_patches(image: Tensor, patch_size: int) -> Tensor:
    """Flat indices of every patch of ``image``."""
    return torch.arange(patch_count(image, patch_size), device=image.device)
