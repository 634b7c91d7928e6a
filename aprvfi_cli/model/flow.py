"""Bidirectional flow network, a faithful port of EBME's BiFlowNet.

One feature encoder and one estimator share their weights across an image pyramid, coarsest
level first. At every level but the coarsest, each image is first splatted halfway toward
the other with the carried flow, so the estimator sees roughly aligned features.
Module and parameter names match the published checkpoint (see :mod:`.ebme`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aprvfi_cli.ops.correlation import local_correlation
from aprvfi_cli.ops.splat import forward_splat


def _conv(in_channels: int, out_channels: int, *, kernel: int = 3, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=kernel // 2)


def _leaky() -> nn.LeakyReLU:
    return nn.LeakyReLU(0.1, inplace=True)


class FeaturePyramid(nn.Module):
    """Image (B, 3, H, W) in [0, 1] -> features (B, 48, H/4, W/4)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv_stage1 = nn.Sequential(
            _conv(3, 24, stride=2), _leaky(), _conv(24, 24), _leaky(), _conv(24, 24), _leaky()
        )
        stage2: list[nn.Module] = [_conv(24, 48, stride=2), _leaky()]
        for _ in range(5):
            stage2 += [_conv(48, 48), _leaky()]
        self.conv_stage2 = nn.Sequential(*stage2)

    def forward(self, image: Tensor) -> Tensor:
        return self.conv_stage2(self.conv_stage1(image))


class FlowEstimator(nn.Module):
    """Correlation + features + carried state -> (flow (B, 4, h, w), feature (B, 64, h, w))."""

    def __init__(self, *, radius: int = 4) -> None:
        super().__init__()
        self.radius = radius
        in_channels = (2 * radius + 1) ** 2 + 48 + 48 + 64 + 4
        widths = [in_channels, 160, 128, 112, 96, 64]
        self.conv_layer1 = nn.Sequential(_conv(widths[0], widths[1], kernel=1), _leaky())
        self.conv_layer2 = nn.Sequential(_conv(widths[1], widths[2]), _leaky())
        self.conv_layer3 = nn.Sequential(_conv(widths[2], widths[3]), _leaky())
        self.conv_layer4 = nn.Sequential(_conv(widths[3], widths[4]), _leaky())
        self.conv_layer5 = nn.Sequential(_conv(widths[4], widths[5]), _leaky())
        self.conv_layer6 = nn.Sequential(_conv(widths[5], 4))

    def forward(self, feat0: Tensor, feat1: Tensor, last_feat: Tensor, last_flow: Tensor) -> tuple[Tensor, Tensor]:
        # The volume is a fresh tensor: activate it in place.
        volume = F.leaky_relu(local_correlation(feat0, feat1, radius=self.radius), 0.1, inplace=True)
        x = torch.cat([volume, feat0, feat1, last_feat, last_flow], dim=1)
        x = self.conv_layer1(x)
        x = self.conv_layer2(x)
        x = self.conv_layer3(x)
        x = self.conv_layer4(x)
        feat = self.conv_layer5(x)
        # Flow stays fp32 under autocast: bf16 pixel displacements are off by up to 0.5 px at 100 px.
        return self.conv_layer6(feat).float(), feat


def _resize(x: Tensor, scale: float) -> Tensor:
    return F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)


class BidirectionalFlow(nn.Module):
    """Estimates F01 and F10 between two frames.

    ``forward(img0, img1, levels=L)`` takes (B, 3, H, W) images in [0, 1] whose H and W are
    multiples of 2^(L+1) and returns (B, 4, H, W): F01 (x, y) then F10 (x, y), in pixels.
    """

    def __init__(self, *, radius: int = 4) -> None:
        super().__init__()
        self.feat_pyramid = FeaturePyramid()
        self.flow_estimator = FlowEstimator(radius=radius)

    def forward(self, img0: Tensor, img1: Tensor, *, levels: int) -> Tensor:
        batch, _, height, width = img0.shape
        stride = 2 ** (levels + 1)
        if height % stride or width % stride:
            raise ValueError(f"frame {height}x{width} is not a multiple of {stride} for {levels} levels")
        flow = feat = None
        for level in reversed(range(levels)):
            scale = 1 / 2**level
            level0 = _resize(img0, scale) if level else img0
            level1 = _resize(img1, scale) if level else img1
            if flow is None or feat is None:
                size = (height // 2 ** (level + 2), width // 2 ** (level + 2))
                last_flow = img0.new_zeros(batch, 4, *size)
                last_feat = img0.new_zeros(batch, 64, *size)
            else:
                last_flow = _resize(flow, 2.0) * 2.0
                last_feat = _resize(feat, 2.0)
                # The carried flow is in pixels of this level's image: upsample x4, no rescale.
                image_flow = _resize(last_flow, 4.0)
                level0 = forward_splat(level0, 0.5 * image_flow[:, :2]).image
                level1 = forward_splat(level1, 0.5 * image_flow[:, 2:]).image
            flow, feat = self.flow_estimator(self.feat_pyramid(level0), self.feat_pyramid(level1), last_feat, last_flow)
        assert flow is not None
        return _resize(flow, 4.0)
