"""Forward splatting: identity, exact shifts, agreement with a slow reference, gradients."""

from __future__ import annotations

import math

import pytest
import torch

from aprvfi_cli.ops.splat import forward_splat


def reference_splat(source: torch.Tensor, flow: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Average splatting written the slow obvious way: loop over every source pixel."""
    batch, channels, height, width = source.shape
    total = torch.zeros(batch, channels, height, width, dtype=torch.float64)
    weight = torch.zeros(batch, 1, height, width, dtype=torch.float64)
    for b in range(batch):
        for y in range(height):
            for x in range(width):
                tx = x + float(flow[b, 0, y, x])
                ty = y + float(flow[b, 1, y, x])
                x0, y0 = math.floor(tx), math.floor(ty)
                for cx, cy in ((x0, y0), (x0 + 1, y0), (x0, y0 + 1), (x0 + 1, y0 + 1)):
                    w = (1 - abs(tx - cx)) * (1 - abs(ty - cy))
                    if 0 <= cx < width and 0 <= cy < height:
                        total[b, :, cy, cx] += w * source[b, :, y, x].double()
                        weight[b, 0, cy, cx] += w
    hole = weight == 0
    return total / torch.where(hole, 1.0, weight), hole.double()


def test_zero_flow_is_identity() -> None:
    source = torch.rand(2, 3, 7, 9)
    result = forward_splat(source, torch.zeros(2, 2, 7, 9))
    torch.testing.assert_close(result.image, source, rtol=0, atol=1e-6)
    assert result.hole.sum() == 0


@pytest.mark.parametrize("dx, dy", [(2, 0), (0, -3), (1, 1), (-4, 2)])
def test_integer_shift_moves_content_exactly(dx: int, dy: int) -> None:
    source = torch.rand(1, 2, 10, 12)
    flow = torch.zeros(1, 2, 10, 12)
    flow[:, 0], flow[:, 1] = dx, dy
    result = forward_splat(source, flow)
    shifted = torch.roll(source, shifts=(dy, dx), dims=(2, 3))
    ys = slice(max(dy, 0), 10 + min(dy, 0))
    xs = slice(max(dx, 0), 12 + min(dx, 0))
    torch.testing.assert_close(result.image[..., ys, xs], shifted[..., ys, xs], rtol=0, atol=1e-6)
    # Everything outside the moved region is a hole with value 0.
    hole = torch.ones(10, 12)
    hole[ys, xs] = 0
    assert torch.equal(result.hole[0, 0], hole)
    assert torch.all(result.image[0][:, hole.bool()] == 0)


def test_agrees_with_slow_reference() -> None:
    source = torch.rand(2, 3, 6, 8, dtype=torch.float64)
    flow = torch.randn(2, 2, 6, 8, dtype=torch.float64) * 2.5
    result = forward_splat(source, flow)
    image, hole = reference_splat(source, flow)
    torch.testing.assert_close(result.image, image, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(result.hole, hole)
    chunked = forward_splat(source, flow, chunk_pixels=7)  # chunks straddle rows and images
    torch.testing.assert_close(chunked.image, image, rtol=1e-9, atol=1e-9)


def test_gradcheck_input_and_flow() -> None:
    source = torch.rand(1, 2, 5, 6, dtype=torch.float64, requires_grad=True)
    # Keep targets away from integer positions, where bilinear weights have kinks.
    flow = (torch.rand(1, 2, 5, 6, dtype=torch.float64) * 0.6 + 0.2).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda s, f: forward_splat(s, f).image, (source, flow))


def test_rejects_mismatched_flow() -> None:
    with pytest.raises(ValueError, match="flow must be"):
        forward_splat(torch.rand(1, 3, 4, 4), torch.rand(1, 2, 4, 5))


def test_zero_weight_pixels_land_nowhere() -> None:
    source = torch.rand(1, 1, 4, 6)
    flow = torch.zeros(1, 2, 4, 6)
    flow[:, 0, :, 3:] = -3.0  # the right half moves onto the left half
    weight = torch.ones(1, 1, 4, 6)
    weight[..., 3:] = 0
    result = forward_splat(source, flow, weight=weight)
    torch.testing.assert_close(result.image[..., :3], source[..., :3])
    assert torch.all(result.hole[..., 3:] == 1) and torch.all(result.hole[..., :3] == 0)


def test_patch_gather_and_scatter_round_trip() -> None:
    from aprvfi_cli.ops.patches import all_patches, gather_patches, scatter_patches

    image = torch.rand(2, 5, 8, 12)
    index = torch.tensor([0, 4, 5, 11])  # 2 x (2 x 3) patches of 4 px
    for channels_last in (False, True):
        source = image.contiguous(memory_format=torch.channels_last) if channels_last else image
        patches = gather_patches(source, index, 4, channels_last=channels_last)
        assert patches.shape == (4, 5, 4, 4)
        torch.testing.assert_close(patches[1], image[0, :, 4:8, 4:8])  # flat 4: batch 0, row 1, col 1
        torch.testing.assert_close(patches[2], image[0, :, 4:8, 8:12])  # flat 5: batch 0, row 1, col 2
        torch.testing.assert_close(patches[3], image[1, :, 4:8, 8:12])  # flat 11: batch 1, row 1, col 2
    rebuilt = torch.zeros_like(image)
    every = all_patches(image, 4)
    scatter_patches(rebuilt, every, gather_patches(image, every, 4), 4)
    assert torch.equal(rebuilt, image)


def test_bf16_values_are_placed_by_fp32_coordinates_at_720p() -> None:
    # bf16 rounds a position above 512 px by 4-8 px; the last row (y = 767) became 768: out of bounds.
    generator = torch.Generator().manual_seed(0)
    source = torch.rand(1, 1, 720, 1280, generator=generator).bfloat16()
    flow = (torch.randn(1, 2, 720, 1280, generator=generator) * 2).bfloat16()
    expected = forward_splat(source.float(), flow.float())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        result = forward_splat(source, flow)
    assert result.image.dtype == torch.bfloat16  # the values keep their dtype
    assert result.weight.dtype == torch.float32 and result.hole.dtype == torch.float32
    assert torch.equal(result.hole, expected.hole)
    torch.testing.assert_close(result.weight, expected.weight)
    torch.testing.assert_close(result.image.float(), expected.image, rtol=0, atol=4e-3)  # bf16 rounding of [0, 1]


def test_non_finite_flow_lands_outside_the_frame() -> None:
    source, flow = torch.rand(1, 3, 6, 8), torch.zeros(1, 2, 6, 8)
    flow[0, 0, 1, 1], flow[0, 1, 2, 2], flow[0, 0, 3, 3] = float("nan"), float("inf"), -1e30
    result = forward_splat(source, flow)
    assert torch.isfinite(result.image).all() and torch.isfinite(result.weight).all()
    moved = torch.zeros(6, 8, dtype=torch.bool)
    moved[1, 1] = moved[2, 2] = moved[3, 3] = True
    assert torch.equal(result.image[0][:, ~moved], source[0][:, ~moved])  # the others stay put
    assert result.hole[0, 0][moved].eq(1).all()
