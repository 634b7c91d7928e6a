"""A picture of the APR router's decisions, like the paper's Fig. 5.

One panel per dynamic refine block, left to right (block 1 first; 2x2 for four blocks): the
interpolated frame, dimmed where the block skipped the 64-px patch, at full brightness with an
orange outline where it ran. The lower the block's keep ratio, the fewer the lit patches.
"""

from __future__ import annotations

import numpy as np

_DIM = 0.3
_OUTLINE = np.array([255, 140, 0], dtype=np.uint8)
_GAP = 8  # px of white between panels


def render_route_map(frame: np.ndarray, route_map: np.ndarray, *, patch_size: int) -> np.ndarray:
    """Panels of ``frame`` showing which patches each dynamic block ran.

    Args:
        frame: (H, W, 3) uint8 RGB, the interpolated frame.
        route_map: (D, n_h, n_w) bool, True where dynamic block d ran the patch; patches cover the
            frame padded to multiples of ``patch_size``.
        patch_size: patch side (px).

    Returns:
        (rows * H + gaps, cols * W + gaps, 3) uint8, cols = 2 when D is 4, else D.
    """
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 frame, got {frame.shape} {frame.dtype}")
    height, width = frame.shape[:2]
    blocks, rows_n, cols_n = route_map.shape
    if rows_n * patch_size < height or cols_n * patch_size < width:
        raise ValueError(f"a {rows_n}x{cols_n} route map of {patch_size}-px patches does not cover {width}x{height}")
    panels = []
    for block in range(blocks):
        ran = np.repeat(np.repeat(route_map[block], patch_size, 0), patch_size, 1)[:height, :width]
        panel = np.where(ran[..., None], frame, (frame * _DIM).astype(np.uint8))
        edges = np.zeros_like(ran)
        edges[:, :-1] |= ran[:, :-1] != ran[:, 1:]
        edges[:-1, :] |= ran[:-1, :] != ran[1:, :]
        panel[edges] = _OUTLINE
        panels.append(panel)
    cols = 2 if blocks == 4 else blocks
    rows = -(-blocks // cols)
    canvas = np.full((rows * height + (rows - 1) * _GAP, cols * width + (cols - 1) * _GAP, 3), 255, np.uint8)
    for index, panel in enumerate(panels):
        top, left = (index // cols) * (height + _GAP), (index % cols) * (width + _GAP)
        canvas[top : top + height, left : left + width] = panel
    return canvas
