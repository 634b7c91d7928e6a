"""Losses and the reference route map on inputs whose answers are known."""

from __future__ import annotations

import math

import pytest
import torch

from aprvfi_cli.train.losses import LossWeights, census_loss, charbonnier, harm_loss, route_loss, total_loss
from aprvfi_cli.train.reference_routes import patch_difficulty, reference_route_map


def test_charbonnier_known_values() -> None:
    a = torch.zeros(1, 3, 4, 4)
    assert charbonnier(a, a, eps=1e-3).item() == pytest.approx(1e-3)
    b = torch.full_like(a, 0.5)
    assert charbonnier(a, b, eps=1e-3).item() == pytest.approx(math.sqrt(0.25 + 1e-6), rel=1e-6)


def test_census_ignores_brightness_offset_but_sees_structure() -> None:
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, 32, 32, generator=generator) * 0.5
    assert census_loss(image, image).item() == 0.0
    # a global brightness offset leaves every neighbour-minus-centre difference unchanged
    assert census_loss(image + 0.3, image).item() < 1e-6
    assert charbonnier(image + 0.3, image).item() > 0.29
    # a shifted image changes the local structure
    shifted = torch.roll(image, 3, dims=-1)
    assert census_loss(shifted, image).item() > 0.1


def test_census_of_a_step_edge() -> None:
    """A vertical step of height 1 against a flat image: only windows that see the edge differ."""
    flat = torch.zeros(1, 3, 16, 16)
    step = flat.clone()
    step[..., 8:] = 1.0
    loss = census_loss(step, flat).item()
    # per pixel: mean over 49 neighbours of d^2/(0.1+d^2), d = s/sqrt(0.81+s^2), s = +-1 luma step
    s = 1.0
    d = s / math.sqrt(0.81 + s * s)
    per_neighbour = d * d / (0.1 + d * d)
    expected = 0.0
    for column in range(3, 13):  # the valid region excludes a 3-px border
        crossing = sum(1 for dx in range(-3, 4) if (column + dx >= 8) != (column >= 8))
        expected += crossing * 7 * per_neighbour / 49
    assert loss == pytest.approx(expected / 10, rel=1e-3)


def test_route_loss_is_l1_of_pass_probabilities() -> None:
    logits = torch.zeros(1, 2, 2, 1, 2)  # every probability 0.5
    reference = torch.tensor([[[[1.0, 0.0]], [[1.0, 1.0]]]])
    assert route_loss(logits, reference).item() == pytest.approx(0.5)
    logits[:, :, 1] = 20.0  # pass probability ~1
    assert route_loss(logits, reference).item() == pytest.approx(0.25, abs=1e-6)


def test_total_loss_weights() -> None:
    a, b = torch.zeros(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    logits, reference = torch.zeros(1, 1, 2, 1, 1), torch.ones(1, 1, 1, 1)
    terms = total_loss(a, b, weights=LossWeights(), route_logits=logits, reference=reference)
    expected = terms.reconstruction + 0.1 * terms.census + 0.01 * 0.5
    assert terms.total.item() == pytest.approx(expected.item())


def test_harm_counts_only_the_images_made_worse_than_the_baseline() -> None:
    target = torch.zeros(2, 3, 8, 8)
    baseline = torch.full_like(target, 0.2)
    prediction = baseline.clone().requires_grad_(True)
    with torch.no_grad():
        prediction[0] = 0.1  # image 0 better than flow-only, image 1 worse
        prediction[1] = 0.5
    eps = 1e-3
    worse = math.sqrt(0.25 + eps**2) - math.sqrt(0.04 + eps**2)
    loss = harm_loss(prediction, baseline, target, eps=eps)
    assert loss.item() == pytest.approx(worse / 2, rel=1e-6)  # the better image adds 0, not its (negative) gain
    loss.backward()
    assert prediction.grad[0].abs().max().item() == 0.0
    assert (prediction.grad[1] > 0).all()  # pushes the worse image toward the truth
    assert harm_loss(baseline, baseline, target).item() == 0.0


def test_harm_weight_enters_the_total_and_needs_the_baseline() -> None:
    a, b = torch.zeros(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    baseline = b * 0.5  # closer to the truth than a
    plain = total_loss(a, b, weights=LossWeights())
    assert plain.harm.item() == 0.0
    harmed = total_loss(a, b, weights=LossWeights(harm=2.0), baseline=baseline)
    assert harmed.harm.item() > 0
    assert harmed.total.item() == pytest.approx(plain.total.item() + 2.0 * harmed.harm.item(), rel=1e-6)
    with pytest.raises(ValueError, match="flow-only frame"):
        total_loss(a, b, weights=LossWeights(harm=2.0))
    with pytest.raises(ValueError, match="non-negative"):
        LossWeights(harm=-1.0)


def test_reference_route_map_on_a_constructed_example() -> None:
    """4x4 patches of 16 px; the warped frames differ by a known amount per patch."""
    patch, grid = 16, 4
    warped0 = torch.zeros(1, 3, patch * grid, patch * grid)
    warped1 = warped0.clone()
    levels = torch.arange(grid * grid, dtype=torch.float32).view(grid, grid) / 16  # patch (r, c) differs by level
    for r in range(grid):
        for c in range(grid):
            # only one 4x4 block differs: the max of the 4x4 averages picks it up
            warped1[..., r * patch : r * patch + 4, c * patch : c * patch + 4] = levels[r, c]
    hole0, hole1 = torch.zeros(1, 1, 64, 64), torch.zeros(1, 1, 64, 64)
    # the most different patch is a hole in frame 1: it must count as easy
    hole1[..., 3 * patch :, 3 * patch :] = 1
    difficulty = patch_difficulty(warped0, warped1, hole0, hole1, patch_size=patch)
    expected = levels.clone()
    expected[3, 3] = 0
    assert torch.allclose(difficulty[0], expected)
    labels = reference_route_map(difficulty, (0.1, 0.4, 0.6, 0.9))
    assert labels.shape == (1, 4, grid, grid)
    assert labels[0].sum(dim=(1, 2)).tolist() == [2, 7, 10, 15]  # ceil(ratio * 16)
    # the first block passes the two hardest patches: levels 14 and 13 (15 is a hole)
    assert labels[0, 0, 3, 2] == 1 and labels[0, 0, 3, 1] == 1 and labels[0, 0, 3, 3] == 0
    # the last block skips exactly the easiest patch
    assert labels[0, 3, 3, 3] == 0 and labels[0, 3].sum() == 15


def test_reference_route_map_ranked_over_the_batch() -> None:
    difficulty = torch.tensor([[[0.0]], [[1.0]], [[2.0]], [[3.0]]])  # 4 crops of one patch each
    per_image = reference_route_map(difficulty, (0.5,))
    assert per_image.sum() == 4  # every single-patch image keeps its patch: nothing is ranked
    per_batch = reference_route_map(difficulty, (0.5,), rank_over="batch")
    assert per_batch.flatten().tolist() == [0, 0, 1, 1]
