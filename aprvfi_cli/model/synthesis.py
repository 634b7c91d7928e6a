"""The synthesis network: five refine blocks on patches, add&norm fusion, mask + residual head.

Patches are independent 64x64 tiles. Block 1 runs on every patch; a dynamic block gathers
only the patches routed to it into one batch, runs regular convolutions on them and scatters
the result back, so a skipped patch costs no convolution work (paper eq. 3: it inherits the
previous block's feature).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor, nn

from aprvfi_cli.model.config import ModelConfig
from aprvfi_cli.model.patch_context import ContextPatches
from aprvfi_cli.model.refine_block import RefineBlock

# Block 1 also sees W0, W1 (3+3), F0t, F1t (2+2) and the two hole masks (1+1).
GUIDE_CHANNELS = 12


class ChannelNorm(nn.Module):
    """Normalise (N, C, H, W) over channels at each pixel, with a learned per-channel affine."""

    def __init__(self, channels: int, *, eps: float = 1e-5) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels, eps=eps)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class SynthesisNet(nn.Module):
    """Refine blocks + fusion + head, on a batch of patches.

    ``forward`` takes the guide patches (N, 12, P, P), their flat patch indices, the warped
    context and per-patch route values (N, D), and returns (N, 4, P, P): the mask logit and the
    residual image.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        width = config.block_widths[0]
        context = 2 * config.context_channels
        self.num_static_blocks = config.num_static_blocks
        self.blocks = nn.ModuleList(
            RefineBlock(
                in_channels=(GUIDE_CHANNELS + context) if k == 0 else (context + width),
                widths=config.block_widths,
            )
            for k in range(config.num_blocks)
        )
        self.fusion_norm = ChannelNorm(width)
        self.head = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1), nn.LeakyReLU(0.1, inplace=True), nn.Conv2d(width, 4, 3, padding=1)
        )
        # A zero head starts the model at the time-weighted flow-only blend (see APRVFI).
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)

    def forward(
        self, *, guide: Tensor, index: Tensor, context: ContextPatches, route: Tensor | None, dense: bool = False
    ) -> Tensor:
        """Args:
        guide: (N, 12, P, P) warped images, scaled flows and hole masks of the N patches.
        index: (N,) flat indices of those patches in the frame batch (to read their context).
        context: the warped context of both frames.
        route: (N, D) route values for the dynamic blocks; None runs every block on every patch.
        dense: run every patch and blend ``v * block + (1 - v) * previous`` (training with
            straight-through route values, so gradients reach the router).
        """
        # Without autograd, routed blocks write into the carried feature: no copy of it per block (BENCHMARKS §6).
        features = self._refined(
            guide=guide, index=index, context=context, route=route, dense=dense, in_place=not torch.is_grad_enabled()
        )
        fused = next(features).clone()  # add&norm: one running sum (a copy: f^1 may be written into)
        for feature in features:
            fused += feature
        return self.head(self.fusion_norm(fused))

    def refine(
        self, *, guide: Tensor, index: Tensor, context: ContextPatches, route: Tensor | None, dense: bool = False
    ) -> list[Tensor]:
        """The feature f^k after every block, each (N, widths[0], P, P); see :meth:`forward`."""
        return list(self._refined(guide=guide, index=index, context=context, route=route, dense=dense, in_place=False))

    def _refined(
        self,
        *,
        guide: Tensor,
        index: Tensor,
        context: ContextPatches,
        route: Tensor | None,
        dense: bool,
        in_place: bool,
    ) -> Iterator[Tensor]:
        """Yield f^k after each block. ``in_place``: a routed block writes its patches into the
        feature it yielded last, so use each one before asking for the next."""
        level = context.at(index)  # each level of these patches; the routed ones read their own
        feature = self.blocks[0](torch.cat([guide, *level(0)], dim=1))
        yield feature
        for k in range(1, len(self.blocks)):
            block = self.blocks[k]
            column = k - self.num_static_blocks
            if k < self.num_static_blocks or route is None:
                feature = block(torch.cat([*level(k), feature], dim=1))
            elif dense:
                v = route[:, column].view(-1, 1, 1, 1)
                refined = block(torch.cat([*level(k), feature], dim=1))
                feature = v * refined + (1 - v) * feature
            else:
                # Only the routed patches are gathered and convolved; the rest keep f^(k-1).
                chosen = torch.nonzero(route[:, column] > 0.5).flatten()
                if chosen.numel():
                    inputs = torch.cat([*context.at(index[chosen])(k), feature[chosen]], dim=1)
                    refined = block(inputs).to(feature.dtype)
                    # clone + in place keeps channels_last (``index_copy`` returns NCHW: later blocks ran slower).
                    feature = (feature if in_place else feature.clone()).index_copy_(0, chosen, refined)
            yield feature
