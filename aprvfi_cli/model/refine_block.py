"""A refine block: a small encoder-decoder that refines the carried feature of 64-px patches."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def _conv(in_channels: int, out_channels: int, *, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1), nn.LeakyReLU(0.1, inplace=True)
    )


def _up(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1), nn.LeakyReLU(0.1, inplace=True)
    )


class RefineBlock(nn.Module):
    """(N, in_channels, P, P) -> (N, widths[0], P, P), working on patches at 1, 1/2 and 1/4.

    Only regular convolutions: a dynamic block runs it on a gathered batch of patches, so the
    work done is proportional to the number of patches routed to it.
    """

    def __init__(self, *, in_channels: int, widths: tuple[int, int, int]) -> None:
        super().__init__()
        c0, c1, c2 = widths
        self.encode0 = nn.Sequential(_conv(in_channels, c0), _conv(c0, c0))
        self.encode1 = nn.Sequential(_conv(c0, c1, stride=2), _conv(c1, c1))
        self.encode2 = nn.Sequential(_conv(c1, c2, stride=2), _conv(c2, c2))
        self.up1 = _up(c2, c1)
        self.decode1 = _conv(2 * c1, c1)
        self.up0 = _up(c1, c0)
        self.decode0 = _conv(2 * c0, c0)
        self.out = nn.Conv2d(c0, c0, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        e0 = self.encode0(x)
        e1 = self.encode1(e0)
        e2 = self.encode2(e1)
        d1 = self.decode1(torch.cat([self.up1(e2), e1], dim=1))
        d0 = self.decode0(torch.cat([self.up0(d1), e0], dim=1))
        return self.out(d0)
