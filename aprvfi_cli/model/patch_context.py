"""The warped context of both frames, read patch by patch by the refine blocks.

Block k reads context level k of the patches routed to it. Two readers give the same patches:

- :class:`SplatContext` keeps the unwarped levels and each frame's :class:`SplatPlan`, and splats
  a level onto the requested patches only, when they are read. A patch no block k runs on never
  has its level k warped, and no whole-frame warped level is ever held.
- :class:`WarpedContext` gathers patches out of whole-frame warped levels (the direct splat,
  when the flow itself is being trained and no plan is made).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from torch import Tensor

from aprvfi_cli.ops.patches import gather_patches, patch_pixels
from aprvfi_cli.ops.splat_plan import SplatPlan


class ContextPatches(Protocol):
    """Warped context level ``k`` of both frames at flat patch indices ``index`` (N,): two
    (N, c, P, P) tensors, apart, so the block input is concatenated once, not twice."""

    def level(self, k: int, index: Tensor) -> list[Tensor]: ...


@dataclass(frozen=True)
class WarpedContext:
    """Whole-frame warped levels, one (B, c, Hp, Wp) tensor per block, for each frame.

    ``channels_last``: gather patches in channels_last memory layout.
    """

    context0: Sequence[Tensor]
    context1: Sequence[Tensor]
    patch_size: int
    channels_last: bool = False

    def level(self, k: int, index: Tensor) -> list[Tensor]:
        return [
            gather_patches(context[k], index, self.patch_size, channels_last=self.channels_last)
            for context in (self.context0, self.context1)
        ]


@dataclass(frozen=True)
class SplatContext:
    """Unwarped levels (one (B, c, Hp, Wp) tensor per block, for each frame) and the splat plan
    of each frame to time t; levels are splatted patch by patch as they are read.

    ``channels_last``: return patches in channels_last memory layout (the product's own layout:
    no copy); else contiguous.
    """

    context0: Sequence[Tensor]
    context1: Sequence[Tensor]
    plan0: SplatPlan
    plan1: SplatPlan
    patch_size: int
    channels_last: bool = False

    def level(self, k: int, index: Tensor) -> list[Tensor]:
        height, width = self.plan0.weight.shape[-2:]
        size = self.patch_size
        pixels = patch_pixels(index, height=height, width=width, patch_size=size)
        patches = []
        for plan, context in ((self.plan0, self.context0), (self.plan1, self.context1)):
            rows = plan.apply_at(context[k], pixels)  # (N * P * P, c), patch by patch
            patch = rows.view(index.numel(), size, size, rows.shape[1]).permute(0, 3, 1, 2)
            patches.append(patch if self.channels_last else patch.contiguous())
        return patches
