"""The resolution the flow network runs at: the whole frame, or the frame area-downscaled by 2 or 4.

At 1/2 or 1/4 scale the frames are area-downscaled, the EBME flow is estimated on them, and its
vectors are upsampled (bilinear) and multiplied by the inverse scale, so they are in pixels of the
full frame again; everything after the flow (context, warping, synthesis) runs at full resolution.
The flow network's cost falls with the pixel count (about 4x per halving), which is most of a
flow-only pair on the CPU (docs/BENCHMARKS.md).

``auto`` (:func:`auto_flow_scale`) downscales as far as the flow still sees at least
:data:`AUTO_MIN_LINES` lines on the frame's shorter side: 1280x720 runs at 1/2, 1920x1080 and 2K at
1/2, 4K at 1/4, anything under 720 lines at full scale. Measured on real footage at native sizes
(BENCHMARKS, "Flow at the resolution it needs"): downscaling is free at 720p and above, costs up
to 1.4 dB below it (fine texture, small motion), and 1/4 costs 0.24 dB at 1080p.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor

from aprvfi_cli.model.flow import BidirectionalFlow
from aprvfi_cli.ops.padding import pad_to_multiple

FLOW_SCALES = (1.0, 0.5, 0.25)
FlowScale = float | str  # one of FLOW_SCALES, or "auto"
DEFAULT_FLOW_SCALE: FlowScale = "auto"  # what inference runs, and so what training computes its flow with
AUTO_MIN_LINES = 360


def check_flow_scale(value: float | str) -> float | str:
    """``"auto"`` or one of :data:`FLOW_SCALES` (as a float); :class:`ValueError` otherwise."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    try:
        scale = float(value)
    except (TypeError, ValueError):
        scale = math.nan
    if scale not in FLOW_SCALES:
        raise ValueError(f"flow scale must be auto, 1, 0.5 or 0.25, got {value!r}")
    return scale


def auto_flow_scale(height: int, width: int) -> float:
    """The scale ``auto`` runs a frame of ``height`` x ``width`` at: the smallest of 1/4 and 1/2 at
    which its shorter side keeps :data:`AUTO_MIN_LINES` lines, else 1."""
    for scale in sorted(FLOW_SCALES):
        if scale * min(height, width) >= AUTO_MIN_LINES:
            return scale
    return 1.0


def describe_flow_scale(scale: float) -> str:
    """``full scale``, ``1/2 scale`` or ``1/4 scale``."""
    return "full scale" if scale == 1 else f"1/{round(1 / scale)} scale"


def estimate_flow(
    network: BidirectionalFlow,
    image0: Tensor,
    image1: Tensor,
    size: tuple[int, int],
    *,
    flow_scale: FlowScale,
    levels_for_width: Callable[[int], int],
) -> tuple[Tensor, tuple[float, ...]]:
    """:func:`scaled_flow` at ``flow_scale``, or at the scale ``auto`` picks for each pair.

    Returns the flow (B, 4, Hp, Wp) and, per pair, the scale it ran at.
    """
    scale = check_flow_scale(flow_scale)
    if scale == "auto":
        scale = auto_flow_scale(*size)
    flow = scaled_flow(network, image0, image1, size, scale=scale, levels_for_width=levels_for_width)
    return flow, (float(scale),) * image0.shape[0]


def scaled_flow(
    network: BidirectionalFlow,
    image0: Tensor,
    image1: Tensor,
    size: tuple[int, int],
    *,
    scale: float,
    levels_for_width: Callable[[int], int],
) -> Tensor:
    """Bidirectional flow of a batch of frames, estimated at ``scale`` of their resolution.

    Args:
        network: the flow network.
        image0, image1: (B, 3, Hp, Wp) frames in [0, 1], padded (bottom/right) to a multiple of 4.
        size: the unpadded (H, W); only that region is content.
        scale: 1, 0.5 or 0.25.
        levels_for_width: pyramid levels for a frame of a given width (px) at the scale it runs.

    Returns:
        (B, 4, Hp, Wp) fp32: F01 (x, y) then F10 (x, y) in pixels of the full frame; past the
        flow network's own padding, replicated.
    """
    padded = image0.shape[-2:]
    factor = round(1 / scale)
    if factor > 1:
        # area downscale: padded sizes are multiples of 64, so every output pixel averages factor^2 pixels
        image0, image1 = F.avg_pool2d(image0, factor), F.avg_pool2d(image1, factor)
    content = (-(-size[0] // factor), -(-size[1] // factor))
    levels = levels_for_width(content[1])
    stride = 2 ** (levels + 1)
    # The flow sees the least padding its pyramid allows, so it does not depend on the patch size.
    flow_size = (-(-content[0] // stride) * stride, -(-content[1] // stride) * stride)
    image0, image1 = pad_to_multiple(image0, stride)[0], pad_to_multiple(image1, stride)[0]
    crop = (..., slice(0, flow_size[0]), slice(0, flow_size[1]))
    flow = network(image0[crop], image1[crop], levels=levels).float()
    if factor > 1:
        # Pixel centres line up for an integer area downscale with align_corners=False.
        flow = F.interpolate(flow, scale_factor=factor, mode="bilinear", align_corners=False).float() * factor
    flow = flow[..., : padded[0], : padded[1]]
    return F.pad(flow, (0, padded[1] - flow.shape[-1], 0, padded[0] - flow.shape[-2]), mode="replicate")
