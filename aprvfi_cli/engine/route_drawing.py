"""A picture of the APR router's decisions, like the paper's Fig. 5.

One panel per dynamic refine block, left to right (block 1 first; 2x2 for four blocks): the
interpolated frame, dimmed where the block skipped the 64-px patch, at full brightness with an
orange outline where it ran, and under it how many patches it ran. The lower the block's keep
ratio, the fewer the lit patches. Drawn with Pillow.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

_DIM = 0.3
_OUTLINE = (255, 140, 0)
_GAP = 8  # px of white between panels
_LABEL = 16  # px of the strip under each panel that says what the block ran


def render_route_map(frame: np.ndarray, route_map: np.ndarray, *, patch_size: int) -> np.ndarray:
    """Panels of ``frame`` showing which patches each dynamic block ran, drawn with Pillow.

    Args:
        frame: (H, W, 3) uint8 RGB, the interpolated frame.
        route_map: (D, n_h, n_w) bool, True where dynamic block d ran the patch; patches cover the
            frame padded to multiples of ``patch_size``.
        patch_size: patch side (px).

    Returns:
        (rows * (H + 16) + gaps, cols * W + gaps, 3) uint8, cols = 2 when D is 4, else D; under
        each panel, "dynamic block d: n of N patches".
    """
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 frame, got {frame.shape} {frame.dtype}")
    height, width = frame.shape[:2]
    blocks, rows_n, cols_n = route_map.shape
    if rows_n * patch_size < height or cols_n * patch_size < width:
        raise ValueError(f"a {rows_n}x{cols_n} route map of {patch_size}-px patches does not cover {width}x{height}")
    # only the patches that hold part of the frame
    visible = route_map[:, : -(-height // patch_size), : -(-width // patch_size)]
    lit = Image.fromarray(frame)
    dim = Image.fromarray((frame * _DIM).astype(np.uint8))
    cols = 2 if blocks == 4 else blocks
    rows = -(-blocks // cols)
    canvas = Image.new("RGB", (cols * width + (cols - 1) * _GAP, rows * (height + _LABEL) + (rows - 1) * _GAP), "white")
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=11)
    for block in range(blocks):
        ran = visible[block]
        mask = np.repeat(np.repeat(ran, patch_size, 0), patch_size, 1)[:height, :width]
        panel = Image.composite(lit, dim, Image.fromarray(mask.astype(np.uint8) * 255))
        _outline(ImageDraw.Draw(panel), ran, patch_size, (height, width))
        top, left = (block // cols) * (height + _LABEL + _GAP), (block % cols) * (width + _GAP)
        canvas.paste(panel, (left, top))
        words = f"dynamic block {block + 1}: {int(ran.sum())} of {ran.size} patches"
        draw.text((left + 2, top + height + 2), words, fill="black", font=font)
    return np.asarray(canvas).copy()


def _outline(draw: ImageDraw.ImageDraw, ran: np.ndarray, patch_size: int, size: tuple[int, int]) -> None:
    """A 1-px orange line on each run patch's sides that face a skipped patch (not the frame's edge)."""
    height, width = size
    for r, c in zip(*np.nonzero(ran), strict=True):
        top, left = r * patch_size, c * patch_size
        bottom, right = min(top + patch_size, height) - 1, min(left + patch_size, width) - 1
        if r > 0 and not ran[r - 1, c]:
            draw.line([(left, top), (right, top)], fill=_OUTLINE)
        if r + 1 < ran.shape[0] and not ran[r + 1, c]:
            draw.line([(left, bottom), (right, bottom)], fill=_OUTLINE)
        if c > 0 and not ran[r, c - 1]:
            draw.line([(left, top), (left, bottom)], fill=_OUTLINE)
        if c + 1 < ran.shape[1] and not ran[r, c + 1]:
            draw.line([(right, top), (right, bottom)], fill=_OUTLINE)
