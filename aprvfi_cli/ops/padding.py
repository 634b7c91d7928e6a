"""Padding frames to the sizes the network needs, and cropping back."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def pad_to_multiple(image: Tensor, multiple: int, *, mode: str = "replicate") -> tuple[Tensor, tuple[int, int]]:
    """Pad (B, C, H, W) on the bottom and right so H and W become multiples of ``multiple``.

    Returns the padded tensor and the original (H, W) for cropping back.
    """
    height, width = image.shape[-2:]
    pad_h = (-height) % multiple
    pad_w = (-width) % multiple
    if pad_h or pad_w:
        image = F.pad(image, (0, pad_w, 0, pad_h), mode=mode)
    return image, (height, width)
