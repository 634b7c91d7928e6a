"""Context network: full-resolution features, one level per refine block (paper §3.2)."""

from __future__ import annotations

from torch import Tensor, nn


class ContextNet(nn.Module):
    """Image (B, 3, H, W) -> ``levels`` feature maps (B, channels, H, W), no downsampling.

    The synthesis works on fixed-size patches, so every level keeps the full resolution and
    only a few channels (the paper's change from a pyramidal context net).
    """

    def __init__(self, *, channels: int, levels: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, channels, 3, padding=1), nn.LeakyReLU(0.1, inplace=True))
        self.levels = nn.ModuleList(
            nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.LeakyReLU(0.1, inplace=True))
            for _ in range(levels)
        )

    def forward(self, image: Tensor) -> list[Tensor]:
        features = []
        x = self.stem(image)
        for level in self.levels:
            x = level(x)
            features.append(x)
        return features
