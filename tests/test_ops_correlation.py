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
