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
