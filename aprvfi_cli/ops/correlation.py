"""Local correlation (cost volume) between two feature maps, as in PWC-Net and EBME.

Computed as batched matrix products instead of one multiply-and-sum pass per displacement:
both maps are laid out pixel-major on a grid of width ``W + 2r`` (so a vertical displacement
is a fixed offset), ``feat0`` is cut into tiles of ``_TILE`` consecutive pixels, and each tile
is multiplied with the ``_TILE + 2r`` pixels of ``feat1`` that its row of displacements can
reach. The (2r+1) diagonals of each product are the correlations; the rest is discarded work
(``(_TILE + 2r) / (2r + 1)`` times the minimum), which costs far less than 81 passes over memory.
"""

from __future__ import annotations

import torch
from torch import Tensor

# Pixels per tile: small tiles waste little arithmetic, large ones make fewer, bigger products.
_TILE = 8


def local_correlation(feat0: Tensor, feat1: Tensor, *, radius: int = 4) -> Tensor:
    """Correlate each position of ``feat0`` with a (2r+1)^2 window of ``feat1``.

    Output channel ``(dy + r) * (2r + 1) + (dx + r)`` holds
    ``mean_c feat0[c, y, x] * feat1[c, y + dy, x + dx]``; positions outside the image count as 0.

    Args:
        feat0, feat1: (B, C, H, W) feature maps of the same shape (any memory format).
        radius: the largest displacement r in either direction.

    Returns:
        (B, (2r+1)^2, H, W) correlation volume (no activation applied), laid out channels-last
        (a strided view; the caller's concatenation copies it anyway).
    """
    if feat0.shape != feat1.shape or feat0.dim() != 4:
        raise ValueError(f"feature maps must share a 4-D shape: {tuple(feat0.shape)} vs {tuple(feat1.shape)}")
    batch, channels, height, width = feat0.shape
    size = 2 * radius + 1
    tile = _TILE
    span = tile + 2 * radius  # the feat1 pixels one tile reaches along a row
    grid_width = width + 2 * radius
    positions = height * grid_width  # output positions on the wide grid (the extra columns are dropped)
    tiles = -(-positions // tile)
    dtype = torch.promote_types(feat0.dtype, feat1.dtype)

    # feat0 on the wide grid, pixel-major, pre-divided by C (the mean).
    left = feat0.new_zeros(batch, tiles * tile, channels, dtype=dtype)
    left[:, :positions].view(batch, height, grid_width, channels)[:, :, :width] = feat0.permute(0, 2, 3, 1) / channels
    # feat1 zero-padded by r on every side, with enough rows below for the last tile's reach.
    rows = -(-(tiles * tile + (size - 1) * grid_width + span) // grid_width)
    right = feat1.new_zeros(batch, rows, grid_width, channels, dtype=dtype)
    right[:, radius : radius + height, radius : radius + width] = feat1.permute(0, 2, 3, 1)

    # products[b, dy, t, i, j] = <left pixel t*tile + i, right pixel t*tile + dy*grid_width + j>
    tracked = torch.is_grad_enabled() and (feat0.requires_grad or feat1.requires_grad)
    products = left.new_empty(batch, size, tiles, tile, span)
    for b in range(batch):
        left_tiles = left[b].view(tiles, tile, channels)
        right_flat = right[b].view(-1, channels)
        for dy in range(size):
            # Overlapping windows of feat1: a strided view, no copy.
            offset = right_flat.storage_offset() + dy * grid_width * channels
            window = right_flat.as_strided((tiles, span, channels), (tile * channels, channels, 1), offset)
            if tracked:  # out= is not differentiable
                products[b, dy] = torch.bmm(left_tiles, window.transpose(1, 2))
            else:
                torch.bmm(left_tiles, window.transpose(1, 2), out=products[b, dy])
    # The correlation for (dy, dx) at tile pixel i is products[..., dy, t, i, i + dx]: a diagonal band.
    stride = products.stride()
    band = products.as_strided(
        (batch, tiles, tile, size, size), (stride[0], stride[2], span + 1, stride[1], 1), products.storage_offset()
    )
    volume = band.reshape(batch, tiles * tile, size * size)[:, :positions]
    return volume.view(batch, height, grid_width, size * size)[:, :, :width].permute(0, 3, 1, 2)
