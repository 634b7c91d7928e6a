"""The training objective (paper eq. 4): Charbonnier + 0.1 census + 0.01 route L1.

An optional term, off by default (not the paper's), penalises crops on which the network's
frame is worse than the flow-only frame it starts from: its gain on the dev set is paired against
flow-only frame by frame, and the runs of docs/TRAINING.md §9 lost most where they changed frames
flow-only already got right.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

# BT.601 luma weights, as in the census transform of RIFE / IFRNet
_GRAY = (0.2989, 0.5870, 0.1140)


@dataclass(frozen=True)
class LossWeights:
    """lambda_1 (census) and lambda_2 (route), the paper's defaults; eps of the Charbonnier;
    ``harm``: weight of :func:`harm_loss` (0, the paper's objective, leaves it out)."""

    census: float = 0.1
    route: float = 0.01
    charbonnier_eps: float = 1e-3
    harm: float = 0.0

    def __post_init__(self) -> None:
        if min(self.census, self.route, self.harm) < 0 or self.charbonnier_eps <= 0:
            raise ValueError(f"loss weights must be non-negative and eps positive, got {self}")


def _charbonnier_map(prediction: Tensor, target: Tensor, eps: float) -> Tensor:
    """sqrt((p - t)^2 + eps^2) at every element."""
    return torch.sqrt((prediction - target) ** 2 + eps**2)


def charbonnier(prediction: Tensor, target: Tensor, *, eps: float = 1e-3) -> Tensor:
    """mean(sqrt((p - t)^2 + eps^2)) over every element; images (B, 3, H, W) in [0, 1]."""
    return _charbonnier_map(prediction, target, eps).mean()


def harm_loss(prediction: Tensor, baseline: Tensor, target: Tensor, *, eps: float = 1e-3) -> Tensor:
    """Mean over the batch of max(0, Charbonnier(prediction) - Charbonnier(baseline)), per image.

    Zero on every image the prediction gets at least as right as ``baseline`` (the flow-only
    frame, no gradient); elsewhere it adds that image's excess error. All (B, 3, H, W) in [0, 1].
    """
    error = _charbonnier_map(prediction, target, eps).flatten(1).mean(dim=1)
    floor = _charbonnier_map(baseline.detach(), target, eps).flatten(1).mean(dim=1)
    return torch.relu(error - floor).mean()


def census_transform(image: Tensor, *, size: int = 7) -> Tensor:
    """Soft ternary census of (B, 3, H, W) in [0, 1]: (B, size^2, H, W), each in (-1, 1).

    Each channel is a neighbour's luma minus the centre's, squashed by d / sqrt(0.81 + d^2),
    so the code is robust to brightness changes and smooth for gradients.
    """
    gray = sum(w * image[:, c : c + 1] for c, w in enumerate(_GRAY))
    eye = torch.eye(size * size, dtype=image.dtype, device=image.device).view(size * size, 1, size, size)
    patches = F.conv2d(gray, eye, padding=size // 2)
    diff = patches - gray
    return diff / torch.sqrt(0.81 + diff**2)


def census_loss(prediction: Tensor, target: Tensor, *, size: int = 7) -> Tensor:
    """Soft Hamming distance of the 7x7 census transforms, averaged away from the border.

    The ``size // 2``-px border is excluded: its windows reach into the zero padding.
    """
    a, b = census_transform(prediction, size=size), census_transform(target, size=size)
    distance = (a - b) ** 2
    distance = (distance / (0.1 + distance)).mean(dim=1)  # (B, H, W)
    pad = size // 2
    return distance[:, pad:-pad, pad:-pad].mean()


def route_probabilities(route_logits: Tensor) -> Tensor:
    """(B, D, 2, n_h, n_w) router logits -> (B, D, n_h, n_w) pass probabilities (softmax index 1)."""
    return torch.softmax(route_logits.float(), dim=2)[:, :, 1]


def route_loss(route_logits: Tensor, reference: Tensor) -> Tensor:
    """L1 between the router's pass probabilities and the reference route map (B, D, n_h, n_w)."""
    return (route_probabilities(route_logits) - reference.to(torch.float32)).abs().mean()


@dataclass(frozen=True)
class LossTerms:
    """The total loss and its parts (scalars; ``route`` is 0 when routing is not trained,
    ``harm`` when its weight is 0)."""

    total: Tensor
    reconstruction: Tensor
    census: Tensor
    route: Tensor
    harm: Tensor


def total_loss(
    prediction: Tensor,
    target: Tensor,
    *,
    weights: LossWeights,
    route_logits: Tensor | None = None,
    reference: Tensor | None = None,
    baseline: Tensor | None = None,
) -> LossTerms:
    """Eq. 4 on (B, 3, H, W) frames; the route term only when logits and a reference are given,
    the harm term when its weight is positive (it then needs the flow-only ``baseline``)."""
    prediction, target = prediction.float(), target.float()
    reconstruction = charbonnier(prediction, target, eps=weights.charbonnier_eps)
    census = census_loss(prediction, target)
    route = prediction.new_zeros(())
    if route_logits is not None and reference is not None:
        route = route_loss(route_logits, reference)
    harm = prediction.new_zeros(())
    if weights.harm > 0:
        if baseline is None:
            raise ValueError("the harm term needs the flow-only frame (baseline)")
        harm = harm_loss(prediction, baseline.float(), target, eps=weights.charbonnier_eps)
    total = reconstruction + weights.census * census + weights.route * route + weights.harm * harm
    return LossTerms(total=total, reconstruction=reconstruction, census=census, route=route, harm=harm)
