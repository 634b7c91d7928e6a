"""How the dynamic blocks choose patches: static, the router's argmax, a keep-ratio dial, or
straight-through Gumbel-softmax for training."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

RouteMode = Literal["static", "apr", "keep", "gumbel"]


@dataclass(frozen=True)
class Routing:
    """A routing policy.

    Attributes:
        mode: ``static`` (every patch through every block), ``apr`` (router argmax), ``keep``
            (top ``keep_ratios[k]`` patches per dynamic block by router score) or ``gumbel``
            (training: straight-through Gumbel-softmax, computed densely).
        keep_ratios: per dynamic block, for mode ``keep``.
        tau: Gumbel-softmax temperature.
    """

    mode: RouteMode = "apr"
    keep_ratios: tuple[float, ...] | None = None
    tau: float = 1.0

    def __post_init__(self) -> None:
        if self.mode not in ("static", "apr", "keep", "gumbel"):
            raise ValueError(f"unknown routing mode {self.mode!r}")
        if self.mode == "keep":
            if not self.keep_ratios or any(not 0.0 <= r <= 1.0 for r in self.keep_ratios):
                raise ValueError("keep routing needs keep ratios in [0, 1]")

    def describe(self) -> str:
        """The policy in the words of ``--route``: ``apr``, ``static`` or keep ratios (``gumbel`` in training)."""
        if self.mode == "keep":
            return ",".join(f"{ratio:g}" for ratio in self.keep_ratios or ())
        return self.mode

    @classmethod
    def parse(cls, text: str) -> Routing:
        """``"apr"``, ``"static"`` or comma-separated keep ratios such as ``"0.1,0.4,0.6,0.9"``."""
        text = text.strip().lower()
        if text in ("apr", "static"):
            return cls(mode=text)  # type: ignore[arg-type]
        try:
            ratios = tuple(float(part) for part in text.split(","))
        except ValueError:
            raise ValueError(f"route must be apr, static or keep ratios like 0.1,0.4,0.6,0.9; got {text!r}") from None
        return cls(mode="keep", keep_ratios=ratios)


def route_decisions(logits: Tensor, routing: Routing) -> Tensor:
    """Turn router logits into per-patch route bits.

    Args:
        logits: (B, D, 2, n_h, n_w) skip/pass logits.
        routing: the policy; ``keep`` ratios must have D entries.

    Returns:
        (B, D, n_h, n_w) route values: exactly 0/1 for inference modes; for ``gumbel`` a hard
        0/1 sample whose gradient is the soft sample's (straight-through).
    """
    batch, blocks, _, rows, cols = logits.shape
    if routing.mode == "static":
        return logits.new_ones(batch, blocks, rows, cols)
    if routing.mode == "apr":
        return (logits[:, :, 1] > logits[:, :, 0]).to(logits.dtype)
    if routing.mode == "gumbel":
        return F.gumbel_softmax(logits, tau=routing.tau, hard=True, dim=2)[:, :, 1]
    assert routing.keep_ratios is not None
    if len(routing.keep_ratios) != blocks:
        raise ValueError(f"{blocks} dynamic blocks need {blocks} keep ratios, got {len(routing.keep_ratios)}")
    score = (logits[:, :, 1] - logits[:, :, 0]).flatten(2)  # (B, D, n)
    bits = torch.zeros_like(score)
    for block, ratio in enumerate(routing.keep_ratios):
        count = math.ceil(ratio * rows * cols - 1e-9)
        if count:
            top = score[:, block].topk(count, dim=1).indices
            bits[:, block].scatter_(1, top, 1.0)
    return bits.view(batch, blocks, rows, cols)
