"""The sparse splat plan: same result as forward_splat, gradients to the values, bf16, errors."""

from __future__ import annotations

import pytest
import torch

from aprvfi_cli.ops.patches import gather_patches
from aprvfi_cli.ops.splat import forward_splat
from aprvfi_cli.ops.splat_plan import plan_splat


def test_plan_equals_forward_splat_with_weights_and_batch() -> None:
    generator = torch.Generator().manual_seed(0)
    source = torch.rand(2, 5, 13, 17, dtype=torch.float64, generator=generator)
    flow = torch.randn(2, 2, 13, 17, dtype=torch.float64, generator=generator) * 4  # some land outside
    weight = (torch.rand(2, 1, 13, 17, generator=generator) > 0.2).double()
    expected = forward_splat(source, flow, weight=weight)
    plan = plan_splat(flow, weight=weight)
    torch.testing.assert_close(plan.apply(source), expected.image, rtol=1e-12, atol=1e-12)
    assert torch.equal(plan.hole, expected.hole) and expected.hole.sum() > 0
    torch.testing.assert_close(plan.weight, expected.weight, rtol=1e-12, atol=1e-12)
    # One plan serves maps of any channel count, channels_last or not.
    other = torch.rand(2, 1, 13, 17, dtype=torch.float64, generator=generator)
    torch.testing.assert_close(plan.apply(other), forward_splat(other, flow, weight=weight).image)
    wide = source.contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(plan.apply(wide), expected.image, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("index", [[7, 0, 11, 4], [2, 3, 4, 5], [5, 6, 10, 11, 1], [9], []])
def test_splat_at_chosen_tiles_equals_the_whole_splat_there(index: list[int]) -> None:
    generator = torch.Generator().manual_seed(3)
    source = torch.rand(2, 5, 16, 24, dtype=torch.float64, generator=generator)
    flow = torch.randn(2, 2, 16, 24, dtype=torch.float64, generator=generator) * 5
    weight = (torch.rand(2, 1, 16, 24, generator=generator) > 0.1).double()
    whole = plan_splat(flow, weight=weight).apply(source)
    plan = plan_splat(flow, weight=weight, tile=8)  # tiles of 8 px: 2 x 3 per frame, 12 in the batch
    # The tiled plan is the same splat, its hole and weight in (b, y, x) order like the untiled one.
    torch.testing.assert_close(plan.apply(source), whole, rtol=1e-12, atol=1e-12)
    assert torch.equal(plan.hole, forward_splat(source, flow, weight=weight).hole)
    chosen = torch.tensor(index, dtype=torch.long)  # any order; runs of consecutive tiles are slices
    rows = plan.tiles(chosen).apply(source)
    expected = gather_patches(whole, chosen, 8, channels_last=True)  # (N, C, P, P)
    torch.testing.assert_close(rows.view(len(index), 8, 8, 5).permute(0, 3, 1, 2), expected, rtol=1e-12, atol=1e-12)
    if index:
        source.requires_grad_(True)
        assert torch.autograd.gradcheck(lambda x: plan.tiles(chosen[:2]).apply(x), (source,))


def test_tiles_need_a_tiled_plan_that_divides_the_frame() -> None:
    with pytest.raises(ValueError, match="without tiles"):
        plan_splat(torch.zeros(1, 2, 8, 8)).tiles(torch.tensor([0]))
    with pytest.raises(ValueError, match="do not divide"):
        plan_splat(torch.zeros(1, 2, 8, 12), tile=8)


def test_zero_flow_plan_is_identity() -> None:
    source = torch.rand(1, 3, 6, 7)
    plan = plan_splat(torch.zeros(1, 2, 6, 7))
    assert torch.equal(plan.apply(source), source)
    assert plan.hole.sum() == 0
    assert plan.matrix.crow_indices().dtype == torch.int32  # small frames: 32-bit indices


def test_gradient_reaches_the_values() -> None:
    generator = torch.Generator().manual_seed(1)
    flow = torch.randn(1, 2, 5, 6, dtype=torch.float64, generator=generator) * 1.5
    plan = plan_splat(flow)
    source = torch.rand(1, 2, 5, 6, dtype=torch.float64, generator=generator, requires_grad=True)
    assert torch.autograd.gradcheck(plan.apply, (source,))


def test_bf16_values_under_autocast() -> None:
    generator = torch.Generator().manual_seed(2)
    source = torch.rand(1, 4, 40, 60, generator=generator)
    flow = torch.randn(1, 2, 40, 60, generator=generator) * 3
    plan = plan_splat(flow)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        result = plan.apply(source.bfloat16())
    assert result.dtype == torch.bfloat16 and plan.weight.dtype == torch.float32
    torch.testing.assert_close(result.float(), plan.apply(source), rtol=0, atol=4e-3)


def test_shape_errors() -> None:
    with pytest.raises(ValueError, match="flow must be"):
        plan_splat(torch.zeros(1, 3, 4, 4))
    with pytest.raises(ValueError, match="weight must be"):
        plan_splat(torch.zeros(1, 2, 4, 4), weight=torch.ones(1, 1, 4, 5))
    with pytest.raises(ValueError, match="map"):
        plan_splat(torch.zeros(1, 2, 4, 4)).apply(torch.rand(1, 3, 4, 5))


def test_tiles_read_only_the_band_of_source_rows_the_flow_can_bring_to_them() -> None:
    generator = torch.Generator().manual_seed(4)
    source = torch.rand(2, 3, 32, 16, dtype=torch.float64, generator=generator)
    flow = torch.zeros(2, 2, 32, 16, dtype=torch.float64)
    flow[:, 1] = 3.0  # everything moves 3 px down
    flow[1, 1, 20:] = -2.5  # the bottom of frame 1 moves 2.5 px up
    plan = plan_splat(flow, tile=8)  # 4 x 2 tiles per frame
    # Tile row 1 of frame 0 (image rows 8-15) can receive source rows 4 (its lower corners) to 15.
    assert plan.tiles(torch.tensor([2, 3])).source_rows == (4, 16)
    # Tile row 0 of frame 1 (rows 32-39 over B*H) may also receive from 3 rows below it.
    assert plan.tiles(torch.tensor([8, 9])).source_rows == (32, 43)
    # The first tile row of frame 0 and the whole of frame 1: the band spans both frames.
    both = torch.tensor([0, 1, 8, 9, 10, 11, 12, 13, 14, 15])
    assert plan.tiles(both).source_rows == (0, 64)
    whole = plan.apply(source)
    for chosen in (both, torch.tensor([2, 3]), torch.tensor([13, 10])):
        got = plan.tiles(chosen).apply(source).view(-1, 8, 8, 3).permute(0, 3, 1, 2)
        torch.testing.assert_close(got, gather_patches(whole, chosen, 8), rtol=1e-12, atol=1e-12)


def test_tiles_nothing_lands_on_splat_to_zero() -> None:
    flow = torch.zeros(1, 2, 24, 24)
    flow[:, 0] = 100.0  # everything leaves the frame: its corners clamp to the right edge's tiles
    plan = plan_splat(flow, tile=8)  # 3 x 3 tiles; nothing at all lands on the middle one
    rows = plan.tiles(torch.tensor([4]))
    assert rows.matrix.values().numel() == 0 and rows.source_rows == (7, 16)
    out = rows.apply(torch.rand(1, 2, 24, 24))
    assert out.shape == (64, 2) and torch.equal(out, torch.zeros_like(out))


def test_a_non_finite_flow_reaches_the_whole_frame() -> None:
    flow = torch.zeros(1, 2, 16, 16)
    flow[0, 1, 3, 4] = float("nan")
    assert plan_splat(flow, tile=8).tiles(torch.tensor([2])).source_rows == (0, 16)


def test_tiles_of_a_bf16_map_match_the_fp32_splat() -> None:
    generator = torch.Generator().manual_seed(5)
    source = torch.rand(1, 6, 32, 32, generator=generator)
    plan = plan_splat(torch.randn(1, 2, 32, 32, generator=generator) * 4, tile=8)
    chosen = torch.tensor([3, 4, 9, 14])
    want = plan.tiles(chosen).apply(source)
    got = plan.tiles(chosen).apply(source.bfloat16().contiguous(memory_format=torch.channels_last))
    assert got.dtype == torch.bfloat16
    torch.testing.assert_close(got.float(), want, rtol=2e-2, atol=2e-2)


def test_the_matrix_holds_only_corners_that_land_in_the_frame() -> None:
    height, width = 5, 7
    weight = torch.ones(1, 1, height, width)
    weight[..., 0, :3] = 0  # three sources of weight 0 land nowhere
    plan = plan_splat(torch.zeros(1, 2, height, width), weight=weight)
    inside = height * width + height * (width - 1) + (height - 1) * width + (height - 1) * (width - 1)
    dropped = 3 + 3 + 3 + 3  # their four corners each (all inside the frame)
    assert plan.matrix.values().numel() == inside - dropped
    gone = plan_splat(torch.full((1, 2, height, width), 50.0), tile=None)
    assert gone.matrix.values().numel() == 0 and bool(gone.hole.all())
