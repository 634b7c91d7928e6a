"""The APR router: per 64-px patch and per dynamic block, pass/skip logits (paper §3.2)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aprvfi_cli.ops.layout import cat_channels


class Router(nn.Module):
    """Alignment-aware patch-level routing.

    Input: concat(|W0 - W1| (3), F0t (2), F1t (2), W0 (3), W1 (3)) at full resolution.
    Output: logits (B, D, 2, n_h, n_w); index 1 of dim 2 is "pass" (run the block).
    """

    def __init__(self, *, channels: int, num_dynamic_blocks: int, patch_size: int) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.num_dynamic_blocks = num_dynamic_blocks
        self.features = nn.Sequential(
            nn.Conv2d(13, channels, 3, stride=2, padding=1),
            nn.LeakyReLU(0.1, inplace=True),
            nn.Conv2d(channels, channels, 3, stride=2, padding=1),
            nn.LeakyReLU(0.1, inplace=True),
        )
        # Average and max pooling to the patch grid are concatenated: 2 * channels features.
        self.classifier = nn.Linear(2 * channels, 2 * num_dynamic_blocks)

    def forward(
        self, warped0: Tensor, warped1: Tensor, flow0t: Tensor, flow1t: Tensor, *, channels_last: bool = False
    ) -> Tensor:
        """Logits (B, D, 2, n_h, n_w) from the warped frames (B, 3, H, W) and flows (B, 2, H, W)
        in pixels; ``channels_last``: the input layout (the caller's placement decides)."""
        batch, _, height, width = warped0.shape
        grid = (height // self.patch_size, width // self.patch_size)
        # Flows are scaled to patches so large motion does not swamp the image terms.
        x = cat_channels(
            [
                (warped0 - warped1).abs(),
                flow0t / self.patch_size,
                flow1t / self.patch_size,
                warped0,
                warped1,
            ],
            channels_last=channels_last,
            convolved=True,
        )
        x = self.features(x)
        pooled = torch.cat([F.adaptive_avg_pool2d(x, grid), F.adaptive_max_pool2d(x, grid)], dim=1)
        logits = self.classifier(pooled.permute(0, 2, 3, 1))  # (B, n_h, n_w, 2D)
        logits = logits.view(batch, *grid, self.num_dynamic_blocks, 2)
        return logits.permute(0, 3, 4, 1, 2).contiguous()
