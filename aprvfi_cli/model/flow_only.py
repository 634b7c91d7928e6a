"""The flow-only interpolation: both frames splatted to t along the flow, holes filled, blended by time.

It is what the APR-VFI network outputs before training (its head starts at zero) and what aprvfi
runs while no trained weights ship. Only the frame's content is splatted (no padding, so no
padding weight), and the blend is written once.
"""

from __future__ import annotations

import torch
from torch import Tensor

from aprvfi_cli.ops.splat import forward_splat


def time_weights(t: float | Tensor, like: Tensor) -> Tensor:
    """``t`` (a number or (B,)) as a (B, 1, 1, 1) tensor of ``like``'s dtype and device."""
    batch = like.shape[0]
    t = torch.as_tensor(t, dtype=like.dtype, device=like.device).reshape(-1)
    return t.expand(batch).reshape(batch, 1, 1, 1) if t.numel() == 1 else t.reshape(batch, 1, 1, 1)


def fill_holes(raw0: Tensor, raw1: Tensor, hole0: Tensor, hole1: Tensor, plain: Tensor) -> tuple[Tensor, Tensor]:
    """Each warped frame (B, C, H, W) with its holes (B, 1, H, W, 1 = nothing landed) filled from
    the other warped frame, and where both are holes from ``plain`` (the unwarped time blend)."""
    holes0, holes1 = hole0.bool(), hole1.bool()
    image0 = torch.where(holes0, torch.where(holes1, plain, raw1), raw0)
    image1 = torch.where(holes1, torch.where(holes0, plain, raw0), raw1)
    return image0, image1


def flow_only_frame(image0: Tensor, image1: Tensor, flow: Tensor, t: float | Tensor) -> Tensor:
    """The frame at ``t`` from two frames and their flow.

    Args:
        image0, image1: (B, 3, H, W) frames in [0, 1] (their content only, no padding).
        flow: (B, 4, H, W) F01 (x, y) then F10 (x, y) in pixels.
        t: a number or (B,) in [0, 1].

    Returns:
        (B, 3, H, W): frame 0 splatted along t F01 and frame 1 along (1 - t) F10, each one's holes
        filled from the other (from (1 - t) I0 + t I1 where both are holes), blended (1 - t, t).
    """
    t = time_weights(t, image0)
    splat0 = forward_splat(image0, t * flow[:, :2])
    splat1 = forward_splat(image1, (1 - t) * flow[:, 2:])
    plain = (1 - t) * image0 + t * image1
    warped0, warped1 = fill_holes(splat0.image, splat1.image, splat0.hole, splat1.hole, plain)
    return (1 - t) * warped0 + t * warped1
