"""The warped context of both frames, read patch by patch by the refine blocks.

Block k reads context level k of the patches routed to it. Two readers give the same patches:

- :class:`SplatContext` keeps the unwarped levels and each frame's :class:`SplatPlan`, and splats
  a level onto the requested patches only, when they are read. A patch no block k runs on never
  has its level k warped, and no whole-frame warped level is ever held.
- :class:`WarpedContext` gathers patches out of whole-frame warped levels (the direct splat,
  when the flow itself is being trained and no plan is made).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from torch import Tensor

from aprvfi_cli.ops.patches import gather_patches
from aprvfi_cli.ops.splat_plan import SplatPlan

# Level k of both frames at the chosen patches: two (N, c, P, P) tensors, apart, so the block
# input is concatenated once, not twice.
LevelReader = Callable[[int], list[Tensor]]


class ContextPatches(Protocol):
    """The warped context at flat patch indices ``index`` (N,): a reader of its levels. Whatever
    depends only on the patches is done once here, for every level read."""

    def at(self, index: Tensor) -> LevelReader: ...


@dataclass(frozen=True)
class WarpedContext:
    """Whole-frame warped levels, one (B, c, Hp, Wp) tensor per block, for each frame.

    ``channels_last``: gather patches in channels_last memory layout.
    """

    context0: Sequence[Tensor]
    context1: Sequence[Tensor]
    patch_size: int
    channels_last: bool = False

    def at(self, index: Tensor) -> LevelReader:
        def level(k: int) -> list[Tensor]:
            return [
                gather_patches(context[k], index, self.patch_size, channels_last=self.channels_last)
                for context in (self.context0, self.context1)
            ]

        return level


@dataclass(frozen=True)
class SplatContext:
    """Unwarped levels (one (B, c, Hp, Wp) tensor per block, for each frame) and the splat plan
    of each frame to time t, tiled by the patch size; levels are splatted patch by patch as they
    are read.

    ``channels_last``: return patches in channels_last memory layout (the product's own layout:
    no copy); else contiguous.
    """

    context0: Sequence[Tensor]
    context1: Sequence[Tensor]
    plan0: SplatPlan
    plan1: SplatPlan
    patch_size: int
    channels_last: bool = False

    def at(self, index: Tensor) -> LevelReader:
        size = self.patch_size
        # The plans' rows of these patches (tiled by the patch size), selected once for all the levels read.
        rows = ((self.plan0.tiles(index), self.context0), (self.plan1.tiles(index), self.context1))

        def level(k: int) -> list[Tensor]:
            patches = []
            for plan_rows, context in rows:
                splatted = plan_rows.apply(context[k])  # (N * P * P, c), patch by patch
                patch = splatted.view(index.numel(), size, size, splatted.shape[1]).permute(0, 3, 1, 2)
                patches.append(patch if self.channels_last else patch.contiguous())
            return patches

        return level
