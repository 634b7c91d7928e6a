"""The layered synthetic triplets: their ground truth must agree with their own flows."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from aprvfi_cli.train.synthetic import Layer, SyntheticConfig, render_triplet, synthetic_triplet

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def textures(count: int = 3, size: int = 160) -> list[torch.Tensor]:
    """Smooth random colour textures (bilinear-upsampled noise), (3, size, size) in [0, 1]."""
    generator = torch.Generator().manual_seed(0)
    coarse = torch.rand(count, 3, size // 8, size // 8, generator=generator)
    return list(F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1))


def sample(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Bilinear lookup of (C, H, W) ``image`` at p + flow(p)."""
    height, width = image.shape[-2:]
    ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    grid = torch.stack([(xs + flow[0]) / (width - 1), (ys + flow[1]) / (height - 1)], dim=-1) * 2 - 1
    return F.grid_sample(image[None].float(), grid[None], align_corners=True)[0]


def nearest(mask: torch.Tensor, flow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(H, W) ``mask`` at the rounded p + flow(p), and whether that lies inside the frame."""
    height, width = mask.shape
    ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    x, y = (xs + flow[0]).round().long(), (ys + flow[1]).round().long()
    inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
    return mask[y.clamp(0, height - 1), x.clamp(0, width - 1)], inside


def consistent(source: torch.Tensor, source_front, source_solid, target, target_front, target_solid, flow):
    """Mean error of ``source`` looked up along ``flow`` (from the target frame) where the same
    surface is solidly visible in both frames, and the fraction of such pixels."""
    front_at, inside = nearest(source_front, flow)
    solid_at, _ = nearest(source_solid, flow)
    visible = target_solid & inside & (front_at == target_front) & solid_at
    error = (sample(source, flow) - target).abs().mean(0)
    return error[visible].mean().item(), visible.float().mean().item()


@pytest.mark.parametrize("index", range(3))
def test_ground_truth_matches_its_flows(index: int) -> None:
    photos = textures()
    config = SyntheticConfig(height=96, width=96, max_motion=48, uniform_t=1.0)
    triplet = synthetic_triplet(photos, config, np.random.default_rng([1, index]))
    assert 0.1 <= triplet.t <= 0.9
    # frame t, rebuilt from frame 0 (and frame 1) along the backward flows from t
    err0, seen0 = consistent(
        triplet.frame0,
        triplet.front0,
        triplet.solid0,
        triplet.frame_t,
        triplet.front_t,
        triplet.solid_t,
        triplet.flow_t0,
    )
    err1, seen1 = consistent(
        triplet.frame1,
        triplet.front1,
        triplet.solid1,
        triplet.frame_t,
        triplet.front_t,
        triplet.solid_t,
        triplet.flow_t1,
    )
    # frame 0 rebuilt from frame 1 along the forward flow F01
    err01, seen01 = consistent(
        triplet.frame1, triplet.front1, triplet.solid1, triplet.frame0, triplet.front0, triplet.solid0, triplet.flow01
    )
    assert min(seen0, seen1, seen01) > 0.2
    assert max(err0, err1, err01) < 0.01
    # the check can fail: ignoring the motion gives a far larger error
    zero = torch.zeros_like(triplet.flow_t0)
    assert consistent(
        triplet.frame0, triplet.front0, triplet.solid0, triplet.frame_t, triplet.front_t, triplet.solid_t, zero
    )[0] > 5 * max(err0, 1e-3)


def layer(**changes) -> Layer:
    base = dict(
        photo=0,
        offset=(0.0, 0.0),
        zoom=1.0,
        center=(32.0, 32.0),
        translation=(0.0, 0.0),
        rotation=0.0,
        log_scale=0.0,
        shape="full",
        radii=(),
        angles=(),
        softness=1.0,
    )
    return Layer(**{**base, **changes})


def test_flows_of_a_known_motion() -> None:
    """A foreground ellipse moving 20 px right and rotating over a still background."""
    photos = textures(2, 96)
    layers = [layer(), layer(photo=1, shape="ellipse", radii=(12.0, 8.0, 0.0), translation=(20.0, 0.0), rotation=0.2)]
    triplet = render_triplet(photos, layers, t=0.25, size=(64, 64))
    centre = (32, 32)  # the ellipse centre at time 0: it moves exactly by the translation
    assert triplet.front0[centre] == 1
    assert torch.allclose(triplet.flow01[:, 32, 32], torch.tensor([20.0, 0.0]), atol=1e-3)
    assert torch.allclose(triplet.flow0t[:, 32, 32], torch.tensor([5.0, 0.0]), atol=1e-3)
    assert torch.allclose(triplet.flow10[:, 32, 52], torch.tensor([-20.0, 0.0]), atol=1e-3)
    # background pixels do not move; a point 8 px right of the centre moves on an arc
    assert triplet.flow01[:, 2, 2].abs().max() < 1e-4
    assert triplet.front0[32, 40] == 1
    for tau, flow in ((0.25, triplet.flow0t), (1.0, triplet.flow01)):
        expected = torch.tensor([20 * tau + 8 * math.cos(0.2 * tau) - 8, 8 * math.sin(0.2 * tau)])
        assert torch.allclose(flow[:, 32, 40], expected, atol=1e-3)


def test_large_motion_and_determinism() -> None:
    photos = textures()
    config = SyntheticConfig(height=128, width=128, max_motion=128)
    motions = [
        synthetic_triplet(photos, config, np.random.default_rng([2, i])).flow01.norm(dim=0).max().item()
        for i in range(6)
    ]
    assert max(motions) > 64
    a = synthetic_triplet(photos, config, np.random.default_rng([3, 0]))
    b = synthetic_triplet(photos, config, np.random.default_rng([3, 0]))
    assert torch.equal(a.frame_t, b.frame_t) and a.t == b.t
