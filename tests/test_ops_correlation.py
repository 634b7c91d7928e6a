"""Local correlation against a brute-force reference."""

from __future__ import annotations

import torch

from aprvfi_cli.ops.correlation import local_correlation


def test_matches_brute_force() -> None:
    feat0 = torch.randn(2, 5, 7, 9, dtype=torch.float64)
    feat1 = torch.randn(2, 5, 7, 9, dtype=torch.float64)
    radius = 4
    result = local_correlation(feat0, feat1, radius=radius)
    assert result.shape == (2, 81, 7, 9)
    expected = torch.zeros_like(result)
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            channel = (dy + radius) * 9 + (dx + radius)
            for y in range(7):
                for x in range(9):
                    if 0 <= y + dy < 7 and 0 <= x + dx < 9:
                        expected[:, channel, y, x] = (feat0[:, :, y, x] * feat1[:, :, y + dy, x + dx]).mean(1)
    torch.testing.assert_close(result, expected)


def test_layout_dtype_and_gradient_do_not_change_the_result() -> None:
    generator = torch.Generator().manual_seed(0)
    feat0 = torch.randn(2, 6, 11, 13, generator=generator, dtype=torch.float64)
    feat1 = torch.randn(2, 6, 11, 13, generator=generator, dtype=torch.float64)
    expected = local_correlation(feat0, feat1, radius=2)
    last = local_correlation(
        feat0.contiguous(memory_format=torch.channels_last),
        feat1.contiguous(memory_format=torch.channels_last),
        radius=2,
    )
    torch.testing.assert_close(last, expected)
    single = local_correlation(feat0.float(), feat1.float(), radius=2)
    torch.testing.assert_close(single, expected.float(), rtol=1e-5, atol=1e-6)
    # Differentiable: d/dfeat0 of the sum is the sum over the window of feat1 / C.
    leaf = feat0.clone().requires_grad_(True)
    local_correlation(leaf, feat1, radius=2).sum().backward()
    padded = torch.nn.functional.pad(feat1, (2, 2, 2, 2))
    window_sum = sum(padded[:, :, dy : dy + 11, dx : dx + 13] for dy in range(5) for dx in range(5))
    assert leaf.grad is not None
    torch.testing.assert_close(leaf.grad, window_sum / 6)
