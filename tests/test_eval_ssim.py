"""SSIM: known values, and agreement with scikit-image's structural_similarity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aprvfi_cli.eval.ssim import gaussian_window, ssim
from aprvfi_cli.video.images import read_image

MIDDLEBURY = Path(__file__).resolve().parents[2] / "shared/data/middlebury_other/other-data/Venus"


def test_identical_images_score_one() -> None:
    image = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    assert ssim(image, image) == pytest.approx(1.0)


def test_flat_images_reduce_to_the_luminance_term() -> None:
    """Constant images: variances and covariance vanish, SSIM = (2ab + C1) / (a^2 + b^2 + C1)."""
    a = np.full((16, 16, 3), 100, np.uint8)
    b = np.full((16, 16, 3), 150, np.uint8)
    c1 = (0.01 * 255) ** 2
    assert ssim(a, b) == pytest.approx((2 * 100 * 150 + c1) / (100**2 + 150**2 + c1), rel=1e-12)


def test_window_is_the_11_tap_gaussian() -> None:
    taps = gaussian_window()
    assert taps.shape == (11,) and taps.sum() == pytest.approx(1.0)
    assert taps[5] / taps[6] == pytest.approx(np.exp(0.5 / 1.5**2))


def test_matches_scikit_image() -> None:
    """Reference values from scikit-image 0.26.0: structural_similarity(a, b, channel_axis=2,
    data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)."""
    rng = np.random.default_rng(0)
    c = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    d = np.clip(c.astype(int) + rng.integers(-30, 30, c.shape), 0, 255).astype(np.uint8)
    assert ssim(c, d) == pytest.approx(0.9737682535291664, abs=1e-12)
    if (MIDDLEBURY / "frame10.png").is_file():
        a, b = read_image(MIDDLEBURY / "frame10.png"), read_image(MIDDLEBURY / "frame11.png")
        assert ssim(a, b) == pytest.approx(0.5498575017195447, abs=1e-12)


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError):
        ssim(np.zeros((16, 16, 3), np.uint8), np.zeros((16, 17, 3), np.uint8))
